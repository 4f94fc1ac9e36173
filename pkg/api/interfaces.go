package api

import (
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/metrics/pkg/apis/metrics"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/podindex"
)

// MetricsGetter returns what is servable now. Implementations fill Timestamp,
// Window and usage only; the REST layer fills ObjectMeta from the informers.
type MetricsGetter interface {
	// NodeMetrics returns the node's usage, or false when there is none to serve.
	NodeMetrics(node string) (metrics.NodeMetrics, bool)
	// PodMetrics returns the usage of a pod running on node, or false.
	PodMetrics(node, namespace, name string) (metrics.PodMetrics, bool)
}

// PodLister finds the pods whose metrics are served (podindex.Index).
type PodLister interface {
	// Get returns the pod namespace/name.
	Get(namespace, name string) (*podindex.Pod, bool)
	// List returns the pods of namespace ("" for all) matching sel, sorted by
	// namespace, then name.
	List(namespace string, sel labels.Selector) []*podindex.Pod
}
