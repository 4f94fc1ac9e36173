package apiserver

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
				req, err := http.NewRequest(http.MethodGet, srv.URL+"/apis/metrics.k8s.io/v1beta1/nodes", nil)
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Accept", "application/json")
				if gzip {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				// the transport, not a client: it leaves the body compressed
				resp, err := http.DefaultTransport.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				n, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("status %s, error %v", resp.Status, err)
				}
				if got := resp.Header.Get("Content-Encoding") == "gzip"; got != gzip {
					b.Fatalf("gzipped %v, want %v", got, gzip)
				}
			}
			b.ReportMetric(float64(n), "resp-bytes")
		})
	}
}
