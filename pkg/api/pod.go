package api

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/metrics/pkg/apis/metrics"
)

// PodMetricsREST serves metrics.k8s.io pods.
type PodMetricsREST struct {
	getter MetricsGetter
	pods   corelisters.PodLister
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
func NewPodMetricsREST(getter MetricsGetter, pods corelisters.PodLister) *PodMetricsREST {
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
	pod, err := r.pods.Pods(namespace).Get(name)
	if err != nil {
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
	var pods []*corev1.Pod
	if namespace := genericapirequest.NamespaceValue(ctx); namespace != "" {
		pods, err = r.pods.Pods(namespace).List(sel.labels)
	} else {
		pods, err = r.pods.List(sel.labels)
	}
	if err != nil {
		return nil, errors.NewInternalError(err)
	}
	sortPods(pods) // the lister's slice is ours to reorder
	list := &metrics.PodMetricsList{Items: make([]metrics.PodMetrics, 0, len(pods))}
	for _, pod := range pods {
		if !sel.matches(&pod.ObjectMeta) {
			continue
		}
		if m, ok := r.metricsFor(pod); ok {
			list.Items = append(list.Items, m)
		}
	}
	return list, nil
}

// metricsFor returns the pod's usage when it is servable: the pod is bound to a
// node and has not terminated (a Pending pod whose sidecar already runs counts).
func (r *PodMetricsREST) metricsFor(pod *corev1.Pod) (metrics.PodMetrics, bool) {
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return metrics.PodMetrics{}, false
	}
	m, ok := r.getter.PodMetrics(pod.Spec.NodeName, pod.Namespace, pod.Name)
	if !ok {
		return m, false
	}
	m.ObjectMeta = objectMetaFor(&pod.ObjectMeta)
	return m, true
}

// ConvertToTable implements rest.TableConvertor.
func (r *PodMetricsREST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return podMetricsTable(object)
}
