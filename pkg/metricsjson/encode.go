// Package metricsjson writes metrics.k8s.io/v1beta1 objects (NodeMetrics,
// PodMetrics and their lists) as JSON without reflection: byte for byte what
// the generic apiserver's JSON serializer (encoding/json) writes for them, at
// a fraction of its CPU and garbage. `kubectl top` and other JSON clients
// list every node or pod, so at thousands of nodes each list is thousands of
// objects whose maps encoding/json would sort and whose quantities and times
// it would marshal through interfaces.
//
// Only objects of the shape this server builds are written here (metadata
// with names, labels, annotations, uid, resource version, generation and
// creation time; list metadata without shard info); anything else (owner
// references, finalizers, managed fields, a deletion time) is reported as not
// handled, so the caller falls back to the generic encoder before anything
// was written. TestKnownFields fails when a dependency update adds a field
// to these types, so none is dropped silently.
package metricsjson

import (
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// flushBytes is how much of a list is buffered before it is written. It is
// above the generic apiserver's gzip threshold (128 KiB), so a response is
// compressed exactly when the generic encoder's would be: the first write of a
// large list is large enough, a small object is written in one piece.
const flushBytes = 256 << 10

// maxPooledBuffer bounds the buffers kept between requests.
const maxPooledBuffer = 2 * flushBytes

var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// Encode writes obj as JSON followed by a newline, as the generic JSON
// serializer does, and reports true; or reports false, having written
// nothing, when obj is not a v1beta1 metrics object of a shape it handles.
func Encode(obj runtime.Object, w io.Writer) (bool, error) {
	if !handles(obj) {
		return false, nil
	}
	bp := bufferPool.Get().(*[]byte)
	e := encoder{buf: (*bp)[:0], w: w}
	switch o := obj.(type) {
	case *v1beta1.NodeMetrics:
		e.nodeMetrics(o)
	case *v1beta1.PodMetrics:
		e.podMetrics(o)
	case *v1beta1.NodeMetricsList:
		writeList(&e, &o.TypeMeta, &o.ListMeta, o.Items, (*encoder).nodeMetrics)
	case *v1beta1.PodMetricsList:
		writeList(&e, &o.TypeMeta, &o.ListMeta, o.Items, (*encoder).podMetrics)
	}
	e.buf = append(e.buf, '\n')
	e.flush()
	if cap(e.buf) <= maxPooledBuffer {
		*bp = e.buf[:0]
		bufferPool.Put(bp)
	}
	return true, e.err
}

// PodMetricsItems are the items of a PodMetricsList, set one at a time into
// an object the encoder reuses (api.CompactPodMetricsList).
type PodMetricsItems interface {
	Len() int
	// Item sets m to item i.
	Item(i int, m *v1beta1.PodMetrics)
}

// EncodePodMetricsList writes a v1beta1 PodMetricsList with empty list
// metadata and the given items, followed by a newline: what Encode writes for
// the list holding them. The items must have only the metadata fields Encode
// handles.
func EncodePodMetricsList(items PodMetricsItems, w io.Writer) error {
	bp := bufferPool.Get().(*[]byte)
	e := encoder{buf: (*bp)[:0], w: w}
	var m v1beta1.PodMetrics
	t := metav1.TypeMeta{Kind: "PodMetricsList", APIVersion: v1beta1.SchemeGroupVersion.String()}
	writeItems(&e, &t, &metav1.ListMeta{}, false, items.Len(), func(e *encoder, i int) {
		items.Item(i, &m)
		e.podMetrics(&m)
	})
	e.buf = append(e.buf, '\n')
	e.flush()
	if cap(e.buf) <= maxPooledBuffer {
		*bp = e.buf[:0]
		bufferPool.Put(bp)
	}
	return e.err
}

// handles reports whether Encode writes obj itself.
func handles(obj runtime.Object) bool {
	switch o := obj.(type) {
	case *v1beta1.NodeMetrics:
		return o != nil && simpleMeta(&o.ObjectMeta)
	case *v1beta1.PodMetrics:
		return o != nil && simpleMeta(&o.ObjectMeta)
	case *v1beta1.NodeMetricsList:
		return o != nil && o.ShardInfo == nil &&
			allSimple(o.Items, func(m *v1beta1.NodeMetrics) *metav1.ObjectMeta { return &m.ObjectMeta })
	case *v1beta1.PodMetricsList:
		return o != nil && o.ShardInfo == nil &&
			allSimple(o.Items, func(m *v1beta1.PodMetrics) *metav1.ObjectMeta { return &m.ObjectMeta })
	}
	return false
}

// allSimple reports whether every item's metadata passes simpleMeta.
func allSimple[T any](items []T, meta func(*T) *metav1.ObjectMeta) bool {
	for i := range items {
		if !simpleMeta(meta(&items[i])) {
			return false
		}
	}
	return true
}

// simpleMeta reports whether m has only the fields objectMeta writes.
func simpleMeta(m *metav1.ObjectMeta) bool {
	return m.DeletionTimestamp == nil && m.DeletionGracePeriodSeconds == nil &&
		m.OwnerReferences == nil && m.Finalizers == nil && m.ManagedFields == nil
}

type encoder struct {
	buf  []byte
	w    io.Writer
	err  error
	keys []string // map keys being sorted
	// window and windowText are the last window written and its JSON: a
	// list's items almost always share one.
	window     time.Duration
	windowText []byte
}

// writeList writes a list as the generic serializer does: type meta, the
// list metadata (always present), then the items (null when nil), each with
// writeItem, flushing as the buffer fills and stopping at the first failed
// write (the client is gone: the rest would be discarded).
func writeList[T any](e *encoder, t *metav1.TypeMeta, l *metav1.ListMeta, items []T, writeItem func(*encoder, *T)) {
	writeItems(e, t, l, items == nil, len(items), func(e *encoder, i int) { writeItem(e, &items[i]) })
}

// writeItems is writeList for n items written by index; null writes the
// items as null.
func writeItems(e *encoder, t *metav1.TypeMeta, l *metav1.ListMeta, null bool, n int, writeItem func(*encoder, int)) {
	e.buf = append(e.buf, '{')
	e.typeMeta(t)
	e.listMeta(l)
	e.buf = append(e.buf, `,"items":`...)
	if null {
		e.buf = append(e.buf, "null}"...)
		return
	}
	e.buf = append(e.buf, '[')
	for i := range n {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		writeItem(e, i)
		if e.maybeFlush(); e.err != nil {
			break
		}
	}
	e.buf = append(e.buf, "]}"...)
}

func (e *encoder) maybeFlush() {
	if len(e.buf) >= flushBytes {
		e.flush()
	}
}

func (e *encoder) flush() {
	if e.err == nil && len(e.buf) > 0 {
		_, e.err = e.w.Write(e.buf)
	}
	e.buf = e.buf[:0]
}

// listMeta writes a list's "metadata" (always: omitempty does not omit a
// struct).
func (e *encoder) listMeta(l *metav1.ListMeta) {
	e.buf = append(e.buf, `"metadata":{`...)
	first := true
	first = e.stringField(first, "selfLink", l.SelfLink)
	first = e.stringField(first, "resourceVersion", l.ResourceVersion)
	first = e.stringField(first, "continue", l.Continue)
	if l.RemainingItemCount != nil {
		e.comma(first)
		e.buf = append(e.buf, `"remainingItemCount":`...)
		e.buf = strconv.AppendInt(e.buf, *l.RemainingItemCount, 10)
	}
	e.buf = append(e.buf, '}')
}

func (e *encoder) typeMeta(t *metav1.TypeMeta) {
	if t.Kind != "" {
		e.buf = append(e.buf, `"kind":`...)
		e.buf = appendString(e.buf, t.Kind)
		e.buf = append(e.buf, ',')
	}
	if t.APIVersion != "" {
		e.buf = append(e.buf, `"apiVersion":`...)
		e.buf = appendString(e.buf, t.APIVersion)
		e.buf = append(e.buf, ',')
	}
}

func (e *encoder) nodeMetrics(m *v1beta1.NodeMetrics) {
	e.objectHead(&m.TypeMeta, &m.ObjectMeta, m.Timestamp, m.Window)
	e.buf = append(e.buf, `,"usage":`...)
	e.resourceList(m.Usage)
	e.buf = append(e.buf, '}')
}

func (e *encoder) podMetrics(m *v1beta1.PodMetrics) {
	e.objectHead(&m.TypeMeta, &m.ObjectMeta, m.Timestamp, m.Window)
	e.buf = append(e.buf, `,"containers":`...)
	if m.Containers == nil {
		e.buf = append(e.buf, "null}"...)
		return
	}
	e.buf = append(e.buf, '[')
	for i := range m.Containers {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		c := &m.Containers[i]
		e.buf = append(e.buf, `{"name":`...)
		e.buf = appendString(e.buf, c.Name)
		e.buf = append(e.buf, `,"usage":`...)
		e.resourceList(c.Usage)
		e.buf = append(e.buf, '}')
	}
	e.buf = append(e.buf, "]}"...)
}

// objectHead writes what NodeMetrics and PodMetrics share: the opening
// brace, type and object metadata, timestamp and window.
func (e *encoder) objectHead(t *metav1.TypeMeta, m *metav1.ObjectMeta, ts metav1.Time, window metav1.Duration) {
	e.buf = append(e.buf, '{')
	e.typeMeta(t)
	e.objectMeta(m)
	e.buf = append(e.buf, `,"timestamp":`...)
	e.time(ts)
	e.buf = append(e.buf, `,"window":`...)
	if e.windowText == nil || window.Duration != e.window {
		e.window, e.windowText = window.Duration, appendString(e.windowText[:0], window.Duration.String())
	}
	e.buf = append(e.buf, e.windowText...)
}

// objectMeta writes "metadata" (always: omitempty does not omit a struct)
// with the fields simpleMeta allows, in the struct's order; a zero creation
// time is left out (omitzero).
func (e *encoder) objectMeta(m *metav1.ObjectMeta) {
	e.buf = append(e.buf, `"metadata":{`...)
	first := true
	first = e.stringField(first, "name", m.Name)
	first = e.stringField(first, "generateName", m.GenerateName)
	first = e.stringField(first, "namespace", m.Namespace)
	first = e.stringField(first, "selfLink", m.SelfLink)
	first = e.stringField(first, "uid", string(m.UID))
	first = e.stringField(first, "resourceVersion", m.ResourceVersion)
	if m.Generation != 0 {
		e.comma(first)
		first = false
		e.buf = append(e.buf, `"generation":`...)
		e.buf = strconv.AppendInt(e.buf, m.Generation, 10)
	}
	if !m.CreationTimestamp.IsZero() { // omitzero
		e.comma(first)
		first = false
		e.buf = append(e.buf, `"creationTimestamp":`...)
		e.time(m.CreationTimestamp)
	}
	if len(m.Labels) > 0 {
		e.comma(first)
		first = false
		e.buf = append(e.buf, `"labels":`...)
		e.stringMap(m.Labels)
	}
	if len(m.Annotations) > 0 {
		e.comma(first)
		e.buf = append(e.buf, `"annotations":`...)
		e.stringMap(m.Annotations)
	}
	e.buf = append(e.buf, '}')
}

// stringField writes an omitempty string field and returns whether the
// object is still without a field.
func (e *encoder) stringField(first bool, name, value string) bool {
	if value == "" {
		return first
	}
	e.comma(first)
	e.buf = append(e.buf, '"')
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, `":`...)
	e.buf = appendString(e.buf, value)
	return false
}

func (e *encoder) comma(first bool) {
	if !first {
		e.buf = append(e.buf, ',')
	}
}

// time writes a metav1.Time as its MarshalJSON does: null when zero, else
// RFC 3339 in UTC, in seconds.
func (e *encoder) time(t metav1.Time) {
	if t.IsZero() {
		e.buf = append(e.buf, "null"...)
		return
	}
	e.buf = append(e.buf, '"')
	e.buf = t.UTC().AppendFormat(e.buf, time.RFC3339)
	e.buf = append(e.buf, '"')
}

// stringMap writes labels or annotations.
func (e *encoder) stringMap(m map[string]string) {
	e.buf = append(e.buf, '{')
	for i, k := range sortedKeys(e, m) {
		e.mapKey(i, k)
		e.buf = appendString(e.buf, m[k])
	}
	e.buf = append(e.buf, '}')
}

// resourceList writes usage ("usage" has no omitempty: nil is null), each
// quantity as its MarshalJSON writes it, its String() quoted: a quantity's
// text holds digits, a sign, a point, an exponent or a suffix, nothing JSON
// escapes. String allocates nothing when the quantity already holds its text
// (the store's do); MarshalJSON always allocates.
func (e *encoder) resourceList(l corev1.ResourceList) {
	if l == nil {
		e.buf = append(e.buf, "null"...)
		return
	}
	e.buf = append(e.buf, '{')
	for i, k := range sortedKeys(e, l) {
		e.mapKey(i, k)
		q := l[corev1.ResourceName(k)]
		e.buf = append(e.buf, '"')
		e.buf = append(e.buf, q.String()...)
		e.buf = append(e.buf, '"')
	}
	e.buf = append(e.buf, '}')
}

// sortedKeys returns m's keys sorted as encoding/json sorts them, in e.keys
// (valid until the next call).
func sortedKeys[K ~string, V any](e *encoder, m map[K]V) []string {
	clear(e.keys)
	e.keys = e.keys[:0]
	for k := range m {
		e.keys = append(e.keys, string(k))
	}
	slices.Sort(e.keys)
	return e.keys
}

// mapKey writes the i-th key of a map and its colon.
func (e *encoder) mapKey(i int, k string) {
	if i > 0 {
		e.buf = append(e.buf, ',')
	}
	e.buf = appendString(e.buf, k)
	e.buf = append(e.buf, ':')
}

// appendString appends s as a JSON string. A string of printable ASCII that
// encoding/json leaves alone (it escapes '"', '\\', and, for HTML, '<', '>'
// and '&') is copied; any other goes through encoding/json itself, so
// control characters, invalid UTF-8 and U+2028/U+2029 come out as it writes
// them.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always marshals
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
