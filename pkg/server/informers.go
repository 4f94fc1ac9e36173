package server

import (
	"context"
	"fmt"
	"runtime/debug"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/podindex"
)

// resourceMetricsPathAnnotation overrides a node's /metrics/resource path; the
// node transform keeps it.
const resourceMetricsPathAnnotation = "metrics.k8s.io/resource-metrics-path"

// newNodeInformers returns an informer factory whose Node informer keeps only
// what scraping and serving need.
func newNodeInformers(client kubernetes.Interface, nodeSelector string) informers.SharedInformerFactory {
	return informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = nodeSelector }),
		informers.WithTransform(transformNode))
}

// newPodReflector keeps index equal to the cluster's bound, running pods. At
// 300,000 pods a SharedIndexInformer's cache was most of this server's
// memory; the index keeps a few words per pod (see package podindex).
func newPodReflector(client kubernetes.Interface, index *podindex.Index) *cache.Reflector {
	// Terminated pods are never served: let the apiserver filter them out
	// (a pod that terminates then arrives as a deletion).
	running := fields.AndSelectors(
		fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)),
		fields.OneTermNotEqualSelector("status.phase", string(corev1.PodFailed)),
	).String()
	pods := client.CoreV1().Pods(metav1.NamespaceAll)
	lw := cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = running
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = running
			return pods.Watch(ctx, o)
		},
	}, client)
	return cache.NewReflectorWithOptions(lw, &corev1.Pod{}, index, cache.ReflectorOptions{Name: "pods", TypeDescription: "*v1.Pod"})
}

// transformNode drops everything but identity, labels, the metrics path
// annotation, addresses and the kubelet port.
func transformNode(obj interface{}) (interface{}, error) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return passThroughTombstone(obj)
	}
	out := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:              node.Name,
			UID:               node.UID,
			ResourceVersion:   node.ResourceVersion,
			CreationTimestamp: node.CreationTimestamp,
			Labels:            node.Labels,
		},
		Status: corev1.NodeStatus{
			Addresses:       node.Status.Addresses,
			DaemonEndpoints: node.Status.DaemonEndpoints,
		},
	}
	if path, ok := node.Annotations[resourceMetricsPathAnnotation]; ok {
		out.Annotations = map[string]string{resourceMetricsPathAnnotation: path}
	}
	return out, nil
}

func passThroughTombstone(obj interface{}) (interface{}, error) {
	if _, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return obj, nil
	}
	return nil, fmt.Errorf("unexpected object %T in informer transform", obj)
}

// releaseAfterSync returns the heap the initial lists left behind to the OS
// once every informer has synced. A first paginated List of 300,000 pods
// decodes a full PodList (gigabytes) before the index shrinks each pod to
// what is kept; the Go runtime would otherwise hold those pages for minutes
// and the server's resident memory would stay at that peak.
func releaseAfterSync(ctx context.Context, synced ...cache.InformerSynced) bool {
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return false
	}
	debug.FreeOSMemory()
	return true
}
