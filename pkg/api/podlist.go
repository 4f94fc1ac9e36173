package api

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/metrics/pkg/apis/metrics"
	"k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/podindex"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

// PodUsageGetter gives a pod's usage without building the API object
// (storage.Store). A MetricsGetter that implements it gets compact lists.
type PodUsageGetter interface {
	// AppendPodUsage appends the usage of the pod's containers, sorted by
	// name, to out and returns it with the pod's timestamp and window, or
	// false when the pod has nothing servable.
	AppendPodUsage(node, namespace, name string, out []storage.ContainerUsage) ([]storage.ContainerUsage, time.Time, time.Duration, bool)
}

type compactListKey struct{}

// WithCompactList marks a request whose list response is encoded as plain
// JSON or protobuf (no table, no metadata-only conversion, no pretty
// printing): its PodMetrics list may be a CompactPodMetricsList.
func WithCompactList(ctx context.Context) context.Context {
	return context.WithValue(ctx, compactListKey{}, true)
}

// CompactListRequested reports whether ctx is marked WithCompactList.
func CompactListRequested(ctx context.Context) bool {
	ok, _ := ctx.Value(compactListKey{}).(bool)
	return ok
}

// CompactPodMetricsList is a PodMetricsList kept as the pods and the numbers
// that make it: a list of every pod in a large cluster is hundreds of
// thousands of containers, and building each one's PodMetrics (a
// ResourceList map per container, ~640 bytes) costs more CPU, garbage and
// fresh memory than encoding it. The server's encoders write it item by item
// into one reused v1beta1.PodMetrics (Item); anything else gets the list
// built (PodMetricsList). Only requests marked WithCompactList get one.
type CompactPodMetricsList struct {
	pods  []compactPod
	usage []storage.ContainerUsage
}

type compactPod struct {
	pod       *podindex.Pod
	timestamp int64 // Unix nanoseconds
	window    time.Duration
	lo, hi    int // usage[lo:hi]
}

var _ runtime.Object = &CompactPodMetricsList{}

// GetObjectKind implements runtime.Object: the list has no type metadata of
// its own; its encoders write PodMetricsList's.
func (l *CompactPodMetricsList) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject implements runtime.Object. The pods are shared: index
// entries are immutable.
func (l *CompactPodMetricsList) DeepCopyObject() runtime.Object {
	return &CompactPodMetricsList{pods: append([]compactPod(nil), l.pods...), usage: append([]storage.ContainerUsage(nil), l.usage...)}
}

// Len is the number of items.
func (l *CompactPodMetricsList) Len() int { return len(l.pods) }

// Item sets m to item i as the v1beta1 list would hold it, reusing m's
// containers and their usage maps. m's previous contents are overwritten.
func (l *CompactPodMetricsList) Item(i int, m *v1beta1.PodMetrics) {
	p := &l.pods[i]
	m.TypeMeta = metav1.TypeMeta{}
	m.ObjectMeta = objectMetaFor(p.pod.Name, p.pod.Namespace, p.pod.Labels(), p.pod.CreationTimestamp())
	m.Timestamp = metav1.NewTime(time.Unix(0, p.timestamp))
	m.Window = metav1.Duration{Duration: p.window}
	n := p.hi - p.lo
	if cap(m.Containers) < n {
		m.Containers = append(m.Containers[:cap(m.Containers)], make([]v1beta1.ContainerMetrics, n-cap(m.Containers))...)
	}
	m.Containers = m.Containers[:n]
	for j, u := range l.usage[p.lo:p.hi] {
		c := &m.Containers[j]
		c.Name = u.Name
		if c.Usage == nil {
			c.Usage = make(corev1.ResourceList, 2)
		}
		cpu, mem := storage.Quantities(u.NanoCores, u.Bytes)
		c.Usage[corev1.ResourceCPU], c.Usage[corev1.ResourceMemory] = cpu, mem
	}
}

// PodMetricsList builds the list the usual way.
func (l *CompactPodMetricsList) PodMetricsList() *metrics.PodMetricsList {
	items := make([]metrics.PodMetrics, len(l.pods))
	for i := range l.pods {
		p := &l.pods[i]
		items[i] = storage.PodUsageMetrics(l.usage[p.lo:p.hi], time.Unix(0, p.timestamp), p.window)
		items[i].ObjectMeta = objectMetaFor(p.pod.Name, p.pod.Namespace, p.pod.Labels(), p.pod.CreationTimestamp())
	}
	return &metrics.PodMetricsList{Items: items}
}

// compactList reads the usage of pods, keeping those that sel matches and
// that have usage to serve.
func compactList(getter PodUsageGetter, pods []*podindex.Pod, sel selector) *CompactPodMetricsList {
	l := &CompactPodMetricsList{pods: make([]compactPod, 0, len(pods)), usage: make([]storage.ContainerUsage, 0, 2*len(pods))}
	for _, pod := range pods {
		if !sel.matches(pod.Name, pod.Namespace) {
			continue
		}
		lo := len(l.usage)
		usage, ts, window, ok := getter.AppendPodUsage(pod.NodeName(), pod.Namespace, pod.Name, l.usage)
		l.usage = usage
		if ok {
			l.pods = append(l.pods, compactPod{pod: pod, timestamp: ts.UnixNano(), window: window, lo: lo, hi: len(usage)})
		}
	}
	return l
}
