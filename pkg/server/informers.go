package server

import (
	"context"
	"fmt"
	"runtime/debug"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// resourceMetricsPathAnnotation overrides a node's /metrics/resource path; the
// node transform keeps it.
const resourceMetricsPathAnnotation = "metrics.k8s.io/resource-metrics-path"

// newInformers returns an informer factory whose Node and Pod informers keep
// only what scraping and serving need: at 10,000 nodes and 300,000 pods the
// informer caches are most of this server's memory.
func newInformers(client kubernetes.Interface, nodeSelector string) (nodeFactory, podFactory informers.SharedInformerFactory) {
	nodeFactory = informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = nodeSelector }),
		informers.WithTransform(transformNode))
	// Terminated pods are never served: let the apiserver filter them out.
	running := fields.AndSelectors(
		fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)),
		fields.OneTermNotEqualSelector("status.phase", string(corev1.PodFailed)),
	).String()
	podFactory = informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = running }),
		informers.WithTransform(transformPod))
	return nodeFactory, podFactory
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

// transformPod keeps identity, labels, the node it runs on and its phase.
func transformPod(obj interface{}) (interface{}, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return passThroughTombstone(obj)
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:              pod.Name,
			Namespace:         pod.Namespace,
			UID:               pod.UID,
			ResourceVersion:   pod.ResourceVersion,
			CreationTimestamp: pod.CreationTimestamp,
			Labels:            pod.Labels,
		},
		Spec:   corev1.PodSpec{NodeName: pod.Spec.NodeName},
		Status: corev1.PodStatus{Phase: pod.Status.Phase},
	}, nil
}

func passThroughTombstone(obj interface{}) (interface{}, error) {
	if _, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return obj, nil
	}
	return nil, fmt.Errorf("unexpected object %T in informer transform", obj)
}

// releaseAfterSync returns the heap the informers' initial lists left behind
// to the OS once every informer has synced. The first List of 300,000 pods
// decodes a full PodList (gigabytes) before the transforms shrink each pod to
// what is kept; the Go runtime would otherwise hold those pages for minutes
// and the server's resident memory would stay at that peak.
func releaseAfterSync(ctx context.Context, synced ...cache.InformerSynced) bool {
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return false
	}
	debug.FreeOSMemory()
	return true
}
