package api

import "k8s.io/metrics/pkg/apis/metrics"

// MetricsGetter returns what is servable now. Implementations fill Timestamp,
// Window and usage only; the REST layer fills ObjectMeta from the informers.
type MetricsGetter interface {
	// NodeMetrics returns the node's usage, or false when there is none to serve.
	NodeMetrics(node string) (metrics.NodeMetrics, bool)
	// PodMetrics returns the usage of a pod running on node, or false.
	PodMetrics(node, namespace, name string) (metrics.PodMetrics, bool)
}
