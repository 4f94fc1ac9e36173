package api

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/podindex"
)

// benchGetter serves every pod, like a store holding all of them.
type benchGetter struct{ fakeGetter }

func newBenchPods(b *testing.B, nodes, podsPerNode int) *PodMetricsREST {
	b.Helper()
	idx := podindex.New(nil)
	pods := map[string]int64{}
	for n := 0; n < nodes; n++ {
		node := fmt.Sprintf("node-%d", n)
		for p := 0; p < podsPerNode; p++ {
			ns, name := fmt.Sprintf("ns-%d", p%10), fmt.Sprintf("pod-%d-%d", n, p)
			if err := idx.Add(&corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{NodeName: node},
				Status:     corev1.PodStatus{Phase: corev1.PodRunning},
			}); err != nil {
				b.Fatal(err)
			}
			pods[node+"/"+ns+"/"+name] = 100
		}
	}
	return NewPodMetricsREST(benchGetter{fakeGetter{pods: pods}}, idx)
}

// BenchmarkListAllPods lists every pod of every namespace through the REST
// storage (lister, selectors, getter, sort), excluding encoding.
func BenchmarkListAllPods(b *testing.B) {
	for _, nodes := range []int{100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d,pods=%d", nodes, nodes*30), func(b *testing.B) {
			r := newBenchPods(b, nodes, 30)
			ctx := genericapirequest.WithNamespace(context.Background(), "")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := r.List(ctx, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetPod gets one pod's metrics from 30,000.
func BenchmarkGetPod(b *testing.B) {
	r := newBenchPods(b, 1000, 30)
	ctx := genericapirequest.WithNamespace(context.Background(), "ns-3")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.Get(ctx, "pod-500-3", nil); err != nil {
			b.Fatal(err)
		}
	}
}
