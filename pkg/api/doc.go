// Package api is the REST storage of metrics.k8s.io/v1beta1: NodeMetrics and
// PodMetrics with get, list, label and field selectors and server-side tables.
//
// Objects are assembled on read: which nodes and pods exist (and their labels)
// comes from the Node informer's lister and the pod index (package podindex),
// their usage from a MetricsGetter (the store). A
// node or pod without servable usage is absent from lists and NotFound on get.
package api
