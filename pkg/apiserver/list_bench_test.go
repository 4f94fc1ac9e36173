package apiserver

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/api"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/podindex"
)

// benchNodeLabels are the labels a cloud node typically carries.
func benchNodeLabels(name string) map[string]string {
	return map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
		"node.kubernetes.io/instance-type": "m5.large", "topology.kubernetes.io/zone": "zone-a"}
}

// BenchmarkListNodeMetrics lists 5,000 NodeMetrics as JSON through the
// server's whole handler chain (authn/authz aside) over loopback HTTP, the
// way `kubectl top node` and the scale harness's freshness polling do, with
// and without gzip (a Go client asks for it by default).
//
//	go test -run '^$' -bench ListNodeMetrics -benchmem -count 6 ./pkg/apiserver
func BenchmarkListNodeMetrics(b *testing.B) {
	nodes := make([]*corev1.Node, 5000)
	for i := range nodes {
		name := fmt.Sprintf("node-%05d", i)
		nodes[i] = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: benchNodeLabels(name)}}
	}
	srv := httptest.NewServer(newTestHandler(b, podindex.New(nil), nodes...))
	defer srv.Close()
	for _, gzip := range []bool{false, true} {
		b.Run(fmt.Sprintf("gzip=%v", gzip), func(b *testing.B) {
			b.ReportAllocs()
			var n int64
			for b.Loop() {
				n = benchGet(b, srv.URL+"/apis/metrics.k8s.io/v1beta1/nodes", "application/json", gzip)
			}
			b.ReportMetric(float64(n), "resp-bytes")
		})
	}
}

// BenchmarkListPodMetrics lists 150,000 PodMetrics (5,000 nodes × 30 pods)
// through the server's whole handler chain (authn/authz aside) over loopback
// HTTP, protobuf and JSON, gzipped as a Go client asks: written compactly
// from the usage (as the server does with its store) and built as API
// objects first (a getter without AppendPodUsage).
//
//	go test -run '^$' -bench ListPodMetrics -benchmem -count 6 ./pkg/apiserver
func BenchmarkListPodMetrics(b *testing.B) {
	idx := podindex.New(nil)
	for n := range 5000 {
		for p := range 30 {
			if err := idx.Add(&corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("ns-%d", p%10), Name: fmt.Sprintf("node-%05d-p%02d", n, p),
					Labels: map[string]string{"app": fmt.Sprintf("app-%d", p), "pod-template-hash": "5f8b9c7d64"}},
				Spec:   corev1.PodSpec{NodeName: fmt.Sprintf("node-%05d", n)},
				Status: corev1.PodStatus{Phase: corev1.PodRunning},
			}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, getter := range []struct {
		name string
		g    api.MetricsGetter
	}{{"compact", usageGetter{}}, {"built", builtLists{}}} {
		srv := httptest.NewServer(newTestHandlerWith(b, getter.g, idx, nil))
		for _, accept := range []string{runtime.ContentTypeProtobuf, runtime.ContentTypeJSON} {
			b.Run(getter.name+"/"+accept, func(b *testing.B) {
				b.ReportAllocs()
				var n int64
				for b.Loop() {
					n = benchGet(b, srv.URL+"/apis/metrics.k8s.io/v1beta1/pods", accept, true)
				}
				b.ReportMetric(float64(n), "resp-bytes")
			})
		}
		srv.Close()
	}
}

// benchGet gets url, asking for gzip or not, and returns the size of the body
// as sent (the transport, not a client: it leaves the body compressed).
func benchGet(b *testing.B, url, accept string, gzip bool) int64 {
	resp, err := http.DefaultTransport.RoundTrip(newGet(b, url, accept, gzip))
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("status %s, error %v", resp.Status, err)
	}
	if got := resp.Header.Get("Content-Encoding") == "gzip"; got != gzip {
		b.Fatalf("gzipped %v, want %v", got, gzip)
	}
	return n
}

// BenchmarkGetPodMetrics gets one PodMetrics (protobuf, as the HPA's client
// asks) through the server's whole handler chain (authn/authz aside), called
// in-process so that only the server's allocations are counted: each get's
// garbage is what sets how often the collector runs under get load.
//
//	go test -run '^$' -bench GetPodMetrics -benchmem -count 6 ./pkg/apiserver
func BenchmarkGetPodMetrics(b *testing.B) {
	idx := podindex.New(nil)
	for p := range 30 {
		if err := idx.Add(&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("node-00001-p%02d", p),
				Labels: map[string]string{"app": "a", "pod-template-hash": "5f8b9c7d64"}},
			Spec:   corev1.PodSpec{NodeName: "node-00001"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning},
		}); err != nil {
			b.Fatal(err)
		}
	}
	h := newTestHandlerWith(b, usageGetter{}, idx, nil)
	req := newGet(b, "/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods/node-00001-p07", runtime.ContentTypeProtobuf, false)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
