package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericapiserver "k8s.io/apiserver/pkg/server"
	utilcompatibility "k8s.io/apiserver/pkg/util/compatibility"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/metrics/pkg/apis/metrics"
	"k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/api"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/podindex"
)

type oneOfEach struct{}

var stamp = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

func (oneOfEach) NodeMetrics(string) (metrics.NodeMetrics, bool) {
	return metrics.NodeMetrics{Timestamp: stamp, Window: metav1.Duration{Duration: 15 * time.Second}, Usage: corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewScaledQuantity(1500000000, resource.Nano),
		corev1.ResourceMemory: *resource.NewQuantity(1<<30, resource.BinarySI),
	}}, true
}

func (oneOfEach) PodMetrics(string, string, string) (metrics.PodMetrics, bool) {
	u := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewScaledQuantity(250000000, resource.Nano),
		corev1.ResourceMemory: *resource.NewQuantity(64<<20, resource.BinarySI),
	}
	return metrics.PodMetrics{Timestamp: stamp, Window: metav1.Duration{Duration: 15 * time.Second},
		Containers: []metrics.ContainerMetrics{{Name: "app", Usage: u}, {Name: "sidecar", Usage: u}}}, true
}

// newTestServer serves the API group over plain HTTP, without authn/authz,
// with node n1 and its pod default/web.
func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	pods := podindex.New(nil)
	if err := pods.Add(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}, Spec: corev1.PodSpec{NodeName: "n1"}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newTestHandler(t, pods, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}))
	t.Cleanup(srv.Close)
	return srv
}

// newTestHandler builds the server (every object served with oneOfEach's
// metrics) and returns its handler.
func newTestHandler(tb testing.TB, pods *podindex.Index, nodes ...*corev1.Node) http.Handler {
	tb.Helper()
	return newTestHandlerWith(tb, oneOfEach{}, pods, nil, nodes...)
}

// newTestHandlerWith builds the server serving getter's metrics, with
// configure (when not nil) applied to its generic config.
func newTestHandlerWith(tb testing.TB, getter api.MetricsGetter, pods *podindex.Index, configure func(*genericapiserver.Config), nodes ...*corev1.Node) http.Handler {
	tb.Helper()
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, n := range nodes {
		if err := indexer.Add(n); err != nil {
			tb.Fatal(err)
		}
	}
	generic := genericapiserver.NewConfig(Codecs)
	generic.EffectiveVersion = utilcompatibility.DefaultBuildEffectiveVersion()
	generic.LoopbackClientConfig = &rest.Config{}
	generic.ExternalAddress = "127.0.0.1:443"
	SetOpenAPI(generic, "test")
	if configure != nil {
		configure(generic)
	}
	c := Config{Generic: generic, Extra: ExtraConfig{
		Metrics: getter, Nodes: corelisters.NewNodeLister(indexer), Pods: pods}}
	s, err := c.Complete().New()
	if err != nil {
		tb.Fatal(err)
	}
	s.GenericAPIServer.PrepareRun() // installs OpenAPI and health endpoints
	return s.GenericAPIServer.Handler
}

func get(t *testing.T, url, accept string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

func TestServesGroup(t *testing.T) {
	srv := newTestServer(t)
	const base = "/apis/metrics.k8s.io/v1beta1"
	tableAccept := "application/json;as=Table;v=v1;g=meta.k8s.io"
	tests := []struct {
		name, path, accept string
		wantType           string
		check              func(t *testing.T, body []byte)
	}{
		{name: "discovery", path: base, wantType: "application/json", check: func(t *testing.T, body []byte) {
			var list metav1.APIResourceList
			mustJSON(t, body, &list)
			kinds := map[string]string{}
			for _, r := range list.APIResources {
				kinds[r.Name] = r.Kind
			}
			if kinds["nodes"] != "NodeMetrics" || kinds["pods"] != "PodMetrics" {
				t.Errorf("resources %v", kinds)
			}
		}},
		{name: "pod json", path: base + "/namespaces/default/pods/web", wantType: "application/json", check: func(t *testing.T, body []byte) {
			var m v1beta1.PodMetrics
			mustJSON(t, body, &m)
			if m.Kind != "PodMetrics" || len(m.Containers) != 2 || m.Containers[1].Name != "sidecar" || m.Window.Duration != 15*time.Second {
				t.Errorf("got %+v", m)
			}
			if cpu := m.Containers[0].Usage[corev1.ResourceCPU]; cpu.String() != "250m" {
				t.Errorf("cpu %s", cpu.String())
			}
			sameAsGenericJSON(t, body, &m)
		}},
		{name: "node list json", path: base + "/nodes", accept: "application/json", wantType: "application/json", check: func(t *testing.T, body []byte) {
			var l v1beta1.NodeMetricsList
			mustJSON(t, body, &l)
			if l.Kind != "NodeMetricsList" || len(l.Items) != 1 || l.Items[0].Name != "n1" || !l.Items[0].Timestamp.Equal(&stamp) {
				t.Errorf("got %+v", l)
			}
			sameAsGenericJSON(t, body, &l)
		}},
		{name: "pod list protobuf", path: base + "/pods", accept: "application/vnd.kubernetes.protobuf", wantType: "application/vnd.kubernetes.protobuf", check: func(t *testing.T, body []byte) {
			obj, _, err := Codecs.UniversalDeserializer().Decode(body, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			list, ok := obj.(*v1beta1.PodMetricsList)
			if !ok || len(list.Items) != 1 || list.Items[0].Name != "web" {
				t.Fatalf("decoded %T %+v", obj, obj)
			}
		}},
		{name: "node table", path: base + "/nodes", accept: tableAccept, wantType: "application/json", check: func(t *testing.T, body []byte) {
			var table metav1.Table
			mustJSON(t, body, &table)
			if len(table.Rows) != 1 || table.Rows[0].Cells[0] != "n1" || table.Rows[0].Cells[1] != "1500m" || table.Rows[0].Cells[2] != "1024Mi" {
				t.Errorf("table %+v", table.Rows)
			}
		}},
		{name: "openapi v2", path: "/openapi/v2", accept: "application/json", wantType: "application/json", check: func(t *testing.T, body []byte) {
			if !strings.Contains(string(body), "io.k8s.metrics.pkg.apis.metrics.v1beta1.PodMetrics") {
				t.Error("PodMetrics definition missing")
			}
		}},
		{name: "openapi v3", path: "/openapi/v3/apis/metrics.k8s.io/v1beta1", wantType: "application/json", check: func(t *testing.T, body []byte) {
			if !strings.Contains(string(body), "io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics") {
				t.Error("NodeMetrics schema missing")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, ctype, body := get(t, srv.URL+tc.path, tc.accept)
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			if !strings.HasPrefix(ctype, tc.wantType) {
				t.Errorf("content type %q, want %q", ctype, tc.wantType)
			}
			tc.check(t, body)
		})
	}
	if code, _, _ := get(t, srv.URL+base+"/namespaces/default/pods/absent", ""); code != http.StatusNotFound {
		t.Errorf("absent pod: status %d", code)
	}
}

// sameAsGenericJSON checks that body, served as JSON, is byte for byte what
// the generic JSON serializer writes for obj (decoded from body): the
// server's metricsjson fast path must not be visible to clients.
func sameAsGenericJSON(t *testing.T, body []byte, obj runtime.Object) {
	t.Helper()
	info, ok := runtime.SerializerInfoForMediaType(Codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	if !ok {
		t.Fatal("no JSON serializer")
	}
	var want bytes.Buffer
	if err := info.Serializer.Encode(obj, &want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, want.Bytes()) {
		t.Errorf("served JSON differs from the generic serializer's:\n got %s\nwant %s", body, want.Bytes())
	}
}

func mustJSON(t *testing.T, body []byte, into interface{}) {
	t.Helper()
	if err := json.Unmarshal(body, into); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
}
