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
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/podindex"
)

// resourceMetricsPathAnnotation overrides a node's /metrics/resource path; the
// node transform keeps it.
const resourceMetricsPathAnnotation = "metrics.k8s.io/resource-metrics-path"

// listPageSize is how many objects one page of an initial list holds.
const listPageSize = 500

// maxPreallocItems bounds the slice listInPages sizes from the first page's
// remainingItemCount.
const maxPreallocItems = 1 << 20

// listInPages lists page by page and keeps of each object only what shrink
// returns before it asks for the next page, so that an initial list of
// 30,000 pods holds 500 full ones at a time instead of all of them (a full
// Pod decodes to ~10 KB, what the pod index reads of it to ~1 KB).
//
// A reflector lists with resourceVersion "0" first, which kube-apiserver
// serves from its watch cache in one piece whatever the limit; that is asked
// as a consistent list ("") instead, which is paginated; a relist at a
// known resourceVersion is left as the reflector asks it. Without the
// streaming watch-list (it needs etcd's progress requests: etcd 3.4.31 or
// 3.5.13 and later) every initial list takes this path. A continue token
// that expired fails the list; the reflector lists again.
func listInPages[T any](ctx context.Context, o metav1.ListOptions,
	list func(context.Context, metav1.ListOptions) ([]T, metav1.ListMeta, error), shrink func(*T) T) ([]T, metav1.ListMeta, error) {
	if o.ResourceVersion == "0" {
		o.ResourceVersion, o.ResourceVersionMatch = "", ""
	}
	// A relist at the last resourceVersion seen is asked as the reflector
	// asks it, without a limit, so the watch cache serves it: with a limit
	// it would be an exact read of that resourceVersion from etcd.
	if o.ResourceVersion == "" {
		o.Limit = listPageSize
	}
	var (
		out   []T
		first metav1.ListMeta
	)
	for page := 0; ; page++ {
		items, meta, err := list(ctx, o)
		if err != nil {
			return nil, metav1.ListMeta{}, err
		}
		if page == 0 {
			first = meta
			n := len(items)
			if r := meta.RemainingItemCount; r != nil && *r > 0 {
				n += int(min(*r, maxPreallocItems))
			}
			out = make([]T, 0, n)
		}
		for i := range items {
			out = append(out, shrink(&items[i]))
		}
		if meta.Continue == "" {
			break
		}
		// the pages after the first are read at the first one's resourceVersion
		o.Continue, o.ResourceVersion, o.ResourceVersionMatch = meta.Continue, "", ""
	}
	first.Continue, first.RemainingItemCount = "", nil
	return out, first, nil
}

// newNodeInformer returns a Node informer that keeps only what scraping and
// serving need, listing in pages (listInPages).
func newNodeInformer(client kubernetes.Interface, nodeSelector string) (cache.SharedIndexInformer, error) {
	nodes := client.CoreV1().Nodes()
	listPage := func(ctx context.Context, o metav1.ListOptions) ([]corev1.Node, metav1.ListMeta, error) {
		l, err := nodes.List(ctx, o)
		if err != nil {
			return nil, metav1.ListMeta{}, err
		}
		return l.Items, l.ListMeta, nil
	}
	lw := cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = nodeSelector
			items, meta, err := listInPages(ctx, o, listPage, slimNode)
			if err != nil {
				return nil, err
			}
			return &corev1.NodeList{ListMeta: meta, Items: items}, nil
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = nodeSelector
			return nodes.Watch(ctx, o)
		},
	}, client)
	informer := cache.NewSharedIndexInformerWithOptions(lw, &corev1.Node{}, cache.SharedIndexInformerOptions{})
	// watch events and a streamed initial list are shrunk here
	if err := informer.SetTransform(transformNode); err != nil {
		return nil, err
	}
	return informer, nil
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
	listPage := func(ctx context.Context, o metav1.ListOptions) ([]corev1.Pod, metav1.ListMeta, error) {
		l, err := pods.List(ctx, o)
		if err != nil {
			return nil, metav1.ListMeta{}, err
		}
		return l.Items, l.ListMeta, nil
	}
	lw := cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = running
			items, meta, err := listInPages(ctx, o, listPage, podindex.Slim)
			if err != nil {
				return nil, err
			}
			return &corev1.PodList{ListMeta: meta, Items: items}, nil
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
	slim := slimNode(node)
	return &slim, nil
}

// slimNode is transformNode's copy of node.
func slimNode(node *corev1.Node) corev1.Node {
	out := corev1.Node{
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
	return out
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
