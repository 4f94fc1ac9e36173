// Package podindex keeps the pods whose metrics are served: a compact,
// read-only directory fed by a client-go Reflector.
//
// A SharedIndexInformer would keep a *corev1.Pod per pod (about 1 KiB even
// with everything but identity stripped: PodSpec and PodStatus are large
// structs) plus its key in two maps, and queue every event through a
// DeltaFIFO. At 300,000 pods that was most of this server's memory. The Index
// is the Reflector's store instead: each pod becomes a Pod of a few words,
// its namespace string is the namespace entry's own, its node name is
// interned (unique.Handle) and its labels are shared with every pod that has
// the same label set (the replicas of a ReplicaSet, a DaemonSet's pods).
//
// Only pods that are bound to a node and have not terminated are kept; the
// list/watch is expected to filter terminated pods server-side (a pod that
// stops matching the field selector arrives as a deletion), and Add/Update of
// a terminated pod is treated as a deletion too.
package podindex

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unique"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

// Pod is what the index keeps of a pod. Its fields are read-only.
type Pod struct {
	Namespace string
	Name      string
	node      unique.Handle[string]
	created   int64 // Unix seconds (the API's timestamps have second precision)
	labels    *labelSet
}

// NodeName is the node the pod is bound to.
func (p *Pod) NodeName() string { return p.node.Value() }

// CreationTimestamp is the pod's creation time.
func (p *Pod) CreationTimestamp() metav1.Time { return metav1.Unix(p.created, 0) }

// Labels returns the pod's labels. The map is shared with other pods of the
// same label set: callers must not modify it.
func (p *Pod) Labels() map[string]string {
	if p.labels == nil {
		return nil
	}
	return p.labels.m
}

// labelSet is one distinct set of labels, shared by refs pods.
type labelSet struct {
	m    map[string]string
	key  string
	refs int
}

type podNamespace struct {
	name string
	pods map[string]*Pod
}

// Index is a cache.ReflectorStore (and cache.TransformingStore) of pods.
// Reads and writes are safe for concurrent use.
type Index struct {
	mu         sync.RWMutex
	namespaces map[string]*podNamespace
	labelSets  map[string]*labelSet
	synced     atomic.Bool
	onDelete   func(*Pod)
}

var (
	_ cache.ReflectorStore    = &Index{}
	_ cache.TransformingStore = &Index{}
)

// New returns an empty Index. onDelete, when not nil, is called (outside the
// Index's lock) for every pod removed: deleted, terminated, or missing from a
// relist.
func New(onDelete func(*Pod)) *Index {
	return &Index{
		namespaces: map[string]*podNamespace{},
		labelSets:  map[string]*labelSet{},
		onDelete:   onDelete,
	}
}

// HasSynced reports whether the first full list has been stored.
func (x *Index) HasSynced() bool { return x.synced.Load() }

// Len returns the number of pods kept.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := 0
	for _, ns := range x.namespaces {
		n += len(ns.pods)
	}
	return n
}

// Get returns the pod namespace/name.
func (x *Index) Get(namespace, name string) (*Pod, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	ns := x.namespaces[namespace]
	if ns == nil {
		return nil, false
	}
	p, ok := ns.pods[name]
	return p, ok
}

// List returns the pods of namespace ("" for all namespaces) whose labels
// match sel (nil matches everything), sorted by namespace, then name. The
// slice is the caller's.
func (x *Index) List(namespace string, sel labels.Selector) []*Pod {
	if sel != nil && sel.Empty() {
		sel = nil
	}
	x.mu.RLock()
	var spaces []*podNamespace
	if namespace != "" {
		if ns := x.namespaces[namespace]; ns != nil {
			spaces = []*podNamespace{ns}
		}
	} else {
		spaces = make([]*podNamespace, 0, len(x.namespaces))
		for _, ns := range x.namespaces {
			spaces = append(spaces, ns)
		}
	}
	n := 0
	for _, ns := range spaces {
		n += len(ns.pods)
	}
	out := make([]*Pod, 0, n)
	for _, ns := range spaces {
		for _, p := range ns.pods {
			if sel == nil || sel.Matches(labels.Set(p.Labels())) {
				out = append(out, p)
			}
		}
	}
	x.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Pod) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// Transformer implements cache.TransformingStore: the Reflector's temporary
// store of a streamed initial list keeps only identity, labels, node and
// phase of each pod until Replace converts them.
func (x *Index) Transformer() cache.TransformFunc { return slimPod }

func slimPod(obj interface{}) (interface{}, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("podindex: unexpected object %T", obj)
	}
	slim := Slim(pod)
	return &slim, nil
}

// Slim returns what the index reads of pod: identity, creation time, labels,
// node and phase. The labels map is shared with pod.
func Slim(pod *corev1.Pod) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:              pod.Name,
			Namespace:         pod.Namespace,
			ResourceVersion:   pod.ResourceVersion,
			CreationTimestamp: pod.CreationTimestamp,
			Labels:            pod.Labels,
		},
		Spec:   corev1.PodSpec{NodeName: pod.Spec.NodeName},
		Status: corev1.PodStatus{Phase: pod.Status.Phase},
	}
}

// Add implements cache.ReflectorStore.
func (x *Index) Add(obj interface{}) error { return x.Update(obj) }

// Update implements cache.ReflectorStore.
func (x *Index) Update(obj interface{}) error {
	pod, err := asPod(obj)
	if err != nil {
		return err
	}
	x.mu.Lock()
	removed := x.putLocked(pod)
	x.mu.Unlock()
	x.notify(removed)
	return nil
}

// Delete implements cache.ReflectorStore.
func (x *Index) Delete(obj interface{}) error {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, err := asPod(obj)
	if err != nil {
		return err
	}
	x.mu.Lock()
	removed := x.removeLocked(pod.Namespace, pod.Name)
	x.mu.Unlock()
	x.notify(removed)
	return nil
}

// Replace implements cache.ReflectorStore: the index becomes exactly list.
func (x *Index) Replace(list []interface{}, _ string) error {
	pods := make([]*corev1.Pod, 0, len(list))
	for _, obj := range list {
		pod, err := asPod(obj)
		if err != nil {
			return err
		}
		pods = append(pods, pod)
	}
	keep := make(map[string]map[string]struct{}, len(x.namespaces))
	for _, pod := range pods {
		if servable(pod) {
			names := keep[pod.Namespace]
			if names == nil {
				names = map[string]struct{}{}
				keep[pod.Namespace] = names
			}
			names[pod.Name] = struct{}{}
		}
	}
	var removed []*Pod
	x.mu.Lock()
	for nsName, ns := range x.namespaces {
		for name := range ns.pods {
			if _, ok := keep[nsName][name]; !ok {
				removed = append(removed, x.removeLocked(nsName, name)...)
			}
		}
	}
	for _, pod := range pods {
		removed = append(removed, x.putLocked(pod)...)
	}
	x.mu.Unlock()
	x.synced.Store(true)
	x.notify(removed)
	return nil
}

// Resync implements cache.ReflectorStore; there is nothing to resync.
func (x *Index) Resync() error { return nil }

func (x *Index) notify(removed []*Pod) {
	if x.onDelete == nil {
		return
	}
	for _, p := range removed {
		x.onDelete(p)
	}
}

func asPod(obj interface{}) (*corev1.Pod, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("podindex: unexpected object %T", obj)
	}
	return pod, nil
}

// servable: bound to a node and not terminated.
func servable(pod *corev1.Pod) bool {
	return pod.Spec.NodeName != "" && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
}

// putLocked stores pod, or removes it when it is not servable; it returns
// what was removed.
func (x *Index) putLocked(pod *corev1.Pod) []*Pod {
	if !servable(pod) {
		return x.removeLocked(pod.Namespace, pod.Name)
	}
	ns := x.namespaces[pod.Namespace]
	if ns == nil {
		ns = &podNamespace{name: pod.Namespace, pods: map[string]*Pod{}}
		x.namespaces[pod.Namespace] = ns
	}
	old := ns.pods[pod.Name]
	if old != nil && old.node.Value() == pod.Spec.NodeName && old.created == pod.CreationTimestamp.Unix() &&
		maps.Equal(old.Labels(), pod.Labels) {
		return nil // a status update: nothing kept changed
	}
	p := &Pod{
		Namespace: ns.name,
		Name:      pod.Name,
		node:      unique.Make(pod.Spec.NodeName),
		created:   pod.CreationTimestamp.Unix(),
		labels:    x.acquireLabels(pod.Labels),
	}
	if old != nil {
		// Pods are replaced, never modified: readers may hold the old one.
		p.Name = old.Name
		x.releaseLabels(old.labels)
	}
	ns.pods[p.Name] = p
	return nil
}

func (x *Index) removeLocked(namespace, name string) []*Pod {
	ns := x.namespaces[namespace]
	if ns == nil {
		return nil
	}
	p, ok := ns.pods[name]
	if !ok {
		return nil
	}
	delete(ns.pods, name)
	if len(ns.pods) == 0 {
		delete(x.namespaces, namespace)
	}
	x.releaseLabels(p.labels)
	return []*Pod{p}
}

// acquireLabels returns the shared set equal to m (nil for no labels).
func (x *Index) acquireLabels(m map[string]string) *labelSet {
	if len(m) == 0 {
		return nil
	}
	key := labelKey(m)
	if s, ok := x.labelSets[key]; ok {
		s.refs++
		return s
	}
	// The pod's own map (decoded for this pod alone) becomes the shared one.
	s := &labelSet{m: m, key: key, refs: 1}
	x.labelSets[key] = s
	return s
}

func (x *Index) releaseLabels(s *labelSet) {
	if s == nil {
		return
	}
	if s.refs--; s.refs == 0 {
		delete(x.labelSets, s.key)
	}
}

// labelKey is a canonical string of m: sorted key=value pairs separated by
// bytes that label keys and values cannot contain.
func labelKey(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	n := 0
	for k, v := range m {
		n += len(k) + len(v) + 2
	}
	var b strings.Builder
	b.Grow(n)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(m[k])
		b.WriteByte(1)
	}
	return b.String()
}
