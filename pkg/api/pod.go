package api

import (
	"context"

	"k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/metrics/pkg/apis/metrics"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/podindex"
)

// PodMetricsREST serves metrics.k8s.io pods.
type PodMetricsREST struct {
	getter MetricsGetter
	pods   PodLister
}

var (
	_ rest.KindProvider         = &PodMetricsREST{}
	_ rest.Storage              = &PodMetricsREST{}
	_ rest.Getter               = &PodMetricsREST{}
	_ rest.Lister               = &PodMetricsREST{}
	_ rest.Scoper               = &PodMetricsREST{}
	_ rest.TableConvertor       = &PodMetricsREST{}
	_ rest.SingularNameProvider = &PodMetricsREST{}
)

// NewPodMetricsREST returns the REST storage for PodMetrics.
func NewPodMetricsREST(getter MetricsGetter, pods PodLister) *PodMetricsREST {
	return &PodMetricsREST{getter: getter, pods: pods}
}

// New implements rest.Storage.
func (r *PodMetricsREST) New() runtime.Object { return &metrics.PodMetrics{} }

// Destroy implements rest.Storage.
func (r *PodMetricsREST) Destroy() {}

// Kind implements rest.KindProvider.
func (r *PodMetricsREST) Kind() string { return "PodMetrics" }

// NewList implements rest.Lister.
func (r *PodMetricsREST) NewList() runtime.Object { return &metrics.PodMetricsList{} }

// NamespaceScoped implements rest.Scoper.
func (r *PodMetricsREST) NamespaceScoped() bool { return true }

// GetSingularName implements rest.SingularNameProvider. The plural, "pods",
// is taken by the core API; the singular is what `kubectl get podmetrics` resolves.
func (r *PodMetricsREST) GetSingularName() string { return "podmetrics" }

// Get implements rest.Getter.
func (r *PodMetricsREST) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	namespace := genericapirequest.NamespaceValue(ctx)
	pod, ok := r.pods.Get(namespace, name)
	if !ok {
		return nil, errors.NewNotFound(metrics.Resource("pods"), name)
	}
	m, ok := r.metricsFor(pod)
	if !ok {
		return nil, errors.NewNotFound(metrics.Resource("pods"), name)
	}
	return &m, nil
}

// List implements rest.Lister. An empty namespace in the context lists all namespaces.
func (r *PodMetricsREST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	sel, err := listSelector(options)
	if err != nil {
		return nil, err
	}
	// sorted by namespace, then name: sorting the pointers before the
	// metrics are built moves 8 bytes per swap instead of a PodMetrics
	pods := r.pods.List(genericapirequest.NamespaceValue(ctx), sel.labels)
	if g, ok := r.getter.(PodUsageGetter); ok && CompactListRequested(ctx) {
		return compactList(g, pods, sel), nil
	}
	list := &metrics.PodMetricsList{Items: make([]metrics.PodMetrics, 0, len(pods))}
	for _, pod := range pods {
		if !sel.matches(pod.Name, pod.Namespace) {
			continue
		}
		if m, ok := r.metricsFor(pod); ok {
			list.Items = append(list.Items, m)
		}
	}
	return list, nil
}

// metricsFor returns the pod's usage when the store has it. The index keeps
// only servable pods: bound to a node and not terminated (a Pending pod
// whose sidecar already runs counts).
func (r *PodMetricsREST) metricsFor(pod *podindex.Pod) (metrics.PodMetrics, bool) {
	m, ok := r.getter.PodMetrics(pod.NodeName(), pod.Namespace, pod.Name)
	if !ok {
		return m, false
	}
	m.ObjectMeta = objectMetaFor(pod.Name, pod.Namespace, pod.Labels(), pod.CreationTimestamp())
	return m, true
}

// ConvertToTable implements rest.TableConvertor.
func (r *PodMetricsREST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return podMetricsTable(object)
}
