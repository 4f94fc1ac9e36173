package api

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/metrics/pkg/apis/metrics"
)

// NodeMetricsREST serves metrics.k8s.io nodes.
type NodeMetricsREST struct {
	getter MetricsGetter
	// nodes lists the nodes the scraper scrapes (the informer applies --node-selector).
	nodes corelisters.NodeLister
}

var (
	_ rest.KindProvider         = &NodeMetricsREST{}
	_ rest.Storage              = &NodeMetricsREST{}
	_ rest.Getter               = &NodeMetricsREST{}
	_ rest.Lister               = &NodeMetricsREST{}
	_ rest.Scoper               = &NodeMetricsREST{}
	_ rest.TableConvertor       = &NodeMetricsREST{}
	_ rest.SingularNameProvider = &NodeMetricsREST{}
)

// NewNodeMetricsREST returns the REST storage for NodeMetrics.
func NewNodeMetricsREST(getter MetricsGetter, nodes corelisters.NodeLister) *NodeMetricsREST {
	return &NodeMetricsREST{getter: getter, nodes: nodes}
}

// New implements rest.Storage.
func (r *NodeMetricsREST) New() runtime.Object { return &metrics.NodeMetrics{} }

// Destroy implements rest.Storage.
func (r *NodeMetricsREST) Destroy() {}

// Kind implements rest.KindProvider.
func (r *NodeMetricsREST) Kind() string { return "NodeMetrics" }

// NewList implements rest.Lister.
func (r *NodeMetricsREST) NewList() runtime.Object { return &metrics.NodeMetricsList{} }

// NamespaceScoped implements rest.Scoper.
func (r *NodeMetricsREST) NamespaceScoped() bool { return false }

// GetSingularName implements rest.SingularNameProvider. The plural, "nodes",
// is taken by the core API; the singular is what `kubectl get nodemetrics` resolves.
func (r *NodeMetricsREST) GetSingularName() string { return "nodemetrics" }

// Get implements rest.Getter.
func (r *NodeMetricsREST) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	node, err := r.nodes.Get(name)
	if err != nil {
		return nil, errors.NewNotFound(metrics.Resource("nodes"), name)
	}
	m, ok := r.metricsFor(node)
	if !ok {
		return nil, errors.NewNotFound(metrics.Resource("nodes"), name)
	}
	return &m, nil
}

// List implements rest.Lister.
func (r *NodeMetricsREST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	sel, err := listSelector(options)
	if err != nil {
		return nil, err
	}
	nodes, err := r.nodes.List(sel.labels)
	if err != nil {
		return nil, errors.NewInternalError(err)
	}
	sortNodes(nodes) // the lister's slice is ours to reorder
	list := &metrics.NodeMetricsList{Items: make([]metrics.NodeMetrics, 0, len(nodes))}
	for _, node := range nodes {
		if !sel.matches(node.Name, node.Namespace) {
			continue
		}
		if m, ok := r.metricsFor(node); ok {
			list.Items = append(list.Items, m)
		}
	}
	return list, nil
}

func (r *NodeMetricsREST) metricsFor(node *corev1.Node) (metrics.NodeMetrics, bool) {
	m, ok := r.getter.NodeMetrics(node.Name)
	if !ok {
		return m, false
	}
	m.ObjectMeta = objectMetaFor(node.Name, node.Namespace, node.Labels, node.CreationTimestamp)
	return m, true
}

// ConvertToTable implements rest.TableConvertor.
func (r *NodeMetricsREST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return nodeMetricsTable(object)
}
