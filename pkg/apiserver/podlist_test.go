package apiserver

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/endpoints/request"
	genericapiserver "k8s.io/apiserver/pkg/server"
	auditfake "k8s.io/apiserver/plugin/pkg/audit/fake"
	"k8s.io/metrics/pkg/apis/metrics"
	"k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/api"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/podindex"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

// usageGetter serves every pod whose name does not end in "-idle" with usage
// (one to three containers) derived from its name, through both PodMetrics and AppendPodUsage (so the
// server lists pods compactly).
type usageGetter struct{ oneOfEach }

func (usageGetter) AppendPodUsage(_, namespace, name string, out []storage.ContainerUsage) ([]storage.ContainerUsage, time.Time, time.Duration, bool) {
	if strings.HasSuffix(name, "-idle") {
		return out, time.Time{}, 0, false
	}
	h := fnv.New64a()
	h.Write([]byte(namespace + "/" + name))
	v := h.Sum64()
	// one to three containers, so that a reused item grows and shrinks
	for i, name := range []string{"app", "istio-proxy", "sidecar"}[:1+v%3] {
		out = append(out, storage.ContainerUsage{Name: name, NanoCores: (v >> i) % 4e9, Bytes: (v >> (2 * i)) % (8 << 30)})
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, int(v%1e9), time.UTC)
	return out, ts, 15*time.Second + time.Duration(v%5000)*time.Millisecond, true
}

func (g usageGetter) PodMetrics(node, namespace, name string) (metrics.PodMetrics, bool) {
	usage, ts, window, ok := g.AppendPodUsage(node, namespace, name, nil)
	if !ok {
		return metrics.PodMetrics{}, false
	}
	return storage.PodUsageMetrics(usage, ts, window), true
}

// builtLists serves the same metrics as g, but only through PodMetrics: the
// server builds every list's objects.
type builtLists struct{ g usageGetter }

func (b builtLists) NodeMetrics(node string) (metrics.NodeMetrics, bool) {
	return b.g.NodeMetrics(node)
}
func (b builtLists) PodMetrics(node, namespace, name string) (metrics.PodMetrics, bool) {
	return b.g.PodMetrics(node, namespace, name)
}

// TestCompactListsMatchBuiltLists lists pods from two servers over the same
// pods and usage, one writing its lists compactly and one building them, and
// wants the same response: bytes, content type and encoding.
func TestCompactListsMatchBuiltLists(t *testing.T) {
	index := func(n int) *podindex.Index {
		idx := podindex.New(nil)
		for i := range n {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("ns-%d", i%3), Name: fmt.Sprintf("pod-%04d", i),
					CreationTimestamp: metav1.Unix(1700000000+int64(i), 0)},
				Spec:   corev1.PodSpec{NodeName: fmt.Sprintf("node-%d", i%7)},
				Status: corev1.PodStatus{Phase: corev1.PodRunning},
			}
			if i%2 == 0 {
				pod.Labels = map[string]string{"app": fmt.Sprintf("app-%d", i%5), "tier": "web"}
			}
			if i%11 == 0 {
				pod.Name += "-idle"
			}
			if err := idx.Add(pod); err != nil {
				t.Fatal(err)
			}
		}
		return idx
	}
	const pods = 3000 // the all-namespace lists are large enough to be gzipped
	compact := httptest.NewServer(newTestHandlerWith(t, usageGetter{}, index(pods), nil))
	defer compact.Close()
	built := httptest.NewServer(newTestHandlerWith(t, builtLists{}, index(pods), nil))
	defer built.Close()

	const (
		base     = "/apis/metrics.k8s.io/v1beta1"
		protobuf = "application/vnd.kubernetes.protobuf"
		json     = "application/json"
		table    = "application/json;as=Table;v=v1;g=meta.k8s.io"
		partial  = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"
	)
	tests := []struct {
		name, path, accept string
		gzip               bool
		wantCompressed     bool
	}{
		{"all namespaces, protobuf", base + "/pods", protobuf, false, false},
		{"all namespaces, JSON", base + "/pods", json, false, false},
		{"all namespaces, protobuf, gzip", base + "/pods", protobuf, true, true},
		{"all namespaces, JSON, gzip", base + "/pods", json, true, true},
		{"one namespace, protobuf", base + "/namespaces/ns-1/pods", protobuf, false, false},
		{"one namespace, JSON", base + "/namespaces/ns-1/pods", json, false, false},
		{"label selector, protobuf", base + "/pods?labelSelector=app%3Dapp-2", protobuf, false, false},
		{"label selector, JSON, gzip (small: not compressed)", base + "/pods?labelSelector=app%3Dapp-2", json, true, false},
		{"field selector, protobuf", base + "/namespaces/ns-0/pods?fieldSelector=metadata.name%3Dpod-0003", protobuf, false, false},
		{"nothing matches, protobuf", base + "/pods?labelSelector=app%3Dnone", protobuf, false, false},
		{"nothing matches, JSON", base + "/pods?labelSelector=app%3Dnone", json, false, false},
		{"no such namespace, JSON", base + "/namespaces/none/pods", json, false, false},
		{"pretty JSON (built)", base + "/namespaces/ns-2/pods?pretty=true", json, false, false},
		{"YAML (built)", base + "/namespaces/ns-2/pods", "application/yaml", false, false},
		{"table (built)", base + "/namespaces/ns-2/pods", table, false, false},
		{"table or JSON (built)", base + "/namespaces/ns-2/pods", table + "," + json, false, false},
		{"metadata only (built)", base + "/namespaces/ns-2/pods", partial, false, false},
		{"one pod, protobuf", base + "/namespaces/ns-0/pods/pod-0003", protobuf, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := fetch(t, built.URL+tt.path, tt.accept, tt.gzip)
			got := fetch(t, compact.URL+tt.path, tt.accept, tt.gzip)
			if got.status != http.StatusOK || want.status != http.StatusOK {
				t.Fatalf("status %d (built %d): %.300s", got.status, want.status, got.body)
			}
			if got.contentType != want.contentType || got.compressed != want.compressed {
				t.Errorf("content type %q compressed %v, built %q %v", got.contentType, got.compressed, want.contentType, want.compressed)
			}
			if got.compressed != tt.wantCompressed {
				t.Errorf("compressed %v, want %v", got.compressed, tt.wantCompressed)
			}
			if !bytes.Equal(got.body, want.body) {
				i := 0
				for i < len(got.body) && i < len(want.body) && got.body[i] == want.body[i] {
					i++
				}
				t.Errorf("%d bytes, built %d; first difference at %d: %q vs %q", len(got.body), len(want.body), i,
					got.body[max(0, i-40):min(len(got.body), i+40)], want.body[max(0, i-40):min(len(want.body), i+40)])
			}
		})
	}
}

// newGet returns a GET of url accepting accept, and gzip if asked to.
func newGet(tb testing.TB, url, accept string, gzipped bool) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	if gzipped {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	return req
}

type fetched struct {
	status      int
	contentType string
	compressed  bool
	body        []byte
}

func fetch(t *testing.T, url, accept string, gzipped bool) fetched {
	t.Helper()
	resp, err := http.DefaultTransport.RoundTrip(newGet(t, url, accept, gzipped)) // leaves the body compressed
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	f := fetched{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), compressed: resp.Header.Get("Content-Encoding") == "gzip"}
	var body io.Reader = resp.Body
	if f.compressed {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		body = zr
	}
	if f.body, err = io.ReadAll(body); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestCompactListsMarked: only PodMetrics list requests whose response is
// JSON (not pretty-printed) or protobuf are marked for a compact list.
func TestCompactListsMarked(t *testing.T) {
	podList := request.RequestInfo{IsResourceRequest: true, Verb: "list", APIGroup: "metrics.k8s.io", APIVersion: "v1beta1", Resource: "pods"}
	with := func(f func(*request.RequestInfo)) request.RequestInfo { i := podList; f(&i); return i }
	tests := []struct {
		name, accept, query string
		info                request.RequestInfo
		want                bool
	}{
		{"protobuf", "application/vnd.kubernetes.protobuf", "", podList, true},
		{"JSON", "application/json", "", podList, true},
		{"anything", "*/*", "", podList, true},
		{"YAML", "application/yaml", "", podList, false},
		{"pretty JSON", "application/json", "pretty=true", podList, false},
		{"not pretty JSON", "application/json", "pretty=false", podList, true},
		{"table", "application/json;as=Table;v=v1;g=meta.k8s.io", "", podList, false},
		{"table, else JSON", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json", "", podList, false},
		{"metadata only", "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", "", podList, false},
		{"not acceptable", "text/html", "", podList, false},
		{"nodes", "application/json", "", with(func(i *request.RequestInfo) { i.Resource = "nodes" }), false},
		{"get", "application/json", "", with(func(i *request.RequestInfo) { i.Verb = "get"; i.Name = "web" }), false},
		{"core pods", "application/json", "", with(func(i *request.RequestInfo) { i.APIGroup = "" }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got, called bool
			h := withCompactLists(http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) {
				called, got = true, api.CompactListRequested(req.Context())
			}), withMetricsEncoders(Codecs))
			req := httptest.NewRequest(http.MethodGet, "/apis/metrics.k8s.io/v1beta1/pods?"+tt.query, nil)
			req.Header.Set("Accept", tt.accept)
			info := tt.info
			req = req.WithContext(request.WithRequestInfo(req.Context(), &info))
			h.ServeHTTP(httptest.NewRecorder(), req)
			if !called || got != tt.want {
				t.Errorf("called %v, marked %v; want marked %v", called, got, tt.want)
			}
		})
	}
}

// TestCompactListAudited: at the RequestResponse audit level a compact list
// is logged as the built list would be.
func TestCompactListAudited(t *testing.T) {
	logged := func(getter api.MetricsGetter) []byte {
		var mu sync.Mutex
		var raw []byte
		backend := &auditfake.Backend{OnRequest: func(events []*auditinternal.Event) {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range events {
				if e.Stage == auditinternal.StageResponseComplete && e.ResponseObject != nil {
					raw = e.ResponseObject.Raw
				}
			}
		}}
		idx := podindex.New(nil)
		for i := range 5 {
			if err := idx.Add(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("web-%d", i), Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{NodeName: "n1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}); err != nil {
				t.Fatal(err)
			}
		}
		srv := httptest.NewServer(newTestHandlerWith(t, getter, idx, func(c *genericapiserver.Config) {
			c.AuditBackend = backend
			c.AuditPolicyRuleEvaluator = policy.NewFakePolicyRuleEvaluator(auditinternal.LevelRequestResponse, nil)
		}))
		defer srv.Close()
		if f := fetch(t, srv.URL+"/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", "application/vnd.kubernetes.protobuf", false); f.status != http.StatusOK {
			t.Fatalf("status %d: %s", f.status, f.body)
		}
		mu.Lock()
		defer mu.Unlock()
		return raw
	}
	got, want := logged(usageGetter{}), logged(builtLists{})
	if len(want) == 0 || !bytes.Contains(want, []byte(`"name":"web-4"`)) {
		t.Fatalf("built list logged as %q", want)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("compact list logged as\n%s\nbuilt list as\n%s", got, want)
	}
}

// TestCompactListOtherEncoders: an encoder that does not write compact lists
// (YAML, pretty JSON) builds the list and writes what it writes for the built
// one.
func TestCompactListOtherEncoders(t *testing.T) {
	idx := podindex.New(nil)
	for i := range 4 {
		if err := idx.Add(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("web-%d", i), Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeName: "n1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := request.WithNamespace(api.WithCompactList(context.Background()), "default")
	compact, err := api.NewPodMetricsREST(usageGetter{}, idx).List(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := compact.(*api.CompactPodMetricsList); !ok {
		t.Fatalf("List returned %T, want a compact list", compact)
	}
	built, err := api.NewPodMetricsREST(builtLists{}, idx).List(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns := withMetricsEncoders(Codecs)
	for _, info := range ns.SupportedMediaTypes() {
		for name, s := range map[string]runtime.Serializer{info.MediaType: info.Serializer, info.MediaType + " pretty": info.PrettySerializer} {
			if s == nil {
				continue
			}
			enc := ns.EncoderForVersion(s, v1beta1.SchemeGroupVersion)
			var got, want bytes.Buffer
			if err := enc.Encode(compact, &got); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := enc.Encode(built, &want); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if want.Len() == 0 || !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("%s: compact list written as\n%q\nbuilt list as\n%q", name, got.Bytes(), want.Bytes())
			}
		}
	}
}
