// Package api is the REST storage of metrics.k8s.io/v1beta1: NodeMetrics and
// PodMetrics with get, list, label and field selectors and server-side tables.
//
// Objects are assembled on read: which nodes and pods exist (and their labels)
// comes from the Node informer's lister and the pod index (package podindex),
// their usage from a MetricsGetter (the store). A
// node or pod without servable usage is absent from lists and NotFound on get.
//
// A PodMetrics list whose request is marked WithCompactList (the server marks
// plain JSON and protobuf lists) is returned as a CompactPodMetricsList when
// the getter is a PodUsageGetter: the pods and their usage numbers, which the
// server's encoders write item by item instead of building every PodMetrics.
package api
