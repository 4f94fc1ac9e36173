package kubeletsim

import (
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// clientCert issues a client certificate from ca.
func clientCert(t *testing.T, ca *certAuthority) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: "metrics-apiserver"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

type testServer struct {
	srv   *server
	ca    *certAuthority
	nodes []*servedNode
	port  int
}

// startServer serves two nodes on 127.0.20.1 and .2 (loopback only).
func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	cfg.Nodes = 2
	cfg.complete()
	clk := clocktesting.NewFakeClock(t0.Add(time.Minute))
	cfg.Clock = clk
	ca, err := loadOrCreateCA("", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*servedNode
	for i, ip := range []string{"127.0.20.1", "127.0.20.2"} {
		name := []string{"node-a", "node-b"}[i]
		addr := netip.MustParseAddr(ip)
		cert, err := ca.servingCert("", name, addr, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		m := NewNodeMetrics(t0, DefaultNodeOverhead)
		m.SetPod(podOf("ns", "pod-of-"+name, t0, cu("c", t0, 100, 1<<20)), t0)
		nodes = append(nodes, &servedNode{name: name, ip: addr, cert: cert, metrics: m})
	}
	s, err := newServer(&cfg, nodes)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.listen(nodes, -1); err != nil {
		t.Fatal(err)
	}
	s.serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.shutdown(ctx)
	})
	return &testServer{srv: s, ca: ca, nodes: nodes, port: s.port}
}

func (ts *testServer) client(serverName string, certs ...tls.Certificate) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(ts.ca.cert)
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:    &tls.Config{RootCAs: roots, ServerName: serverName, Certificates: certs},
			DisableCompression: true,
		},
	}
}

func (ts *testServer) url(node int, path string) string {
	return "https://" + netip.AddrPortFrom(ts.nodes[node].ip, uint16(ts.port)).String() + path
}

func get(t *testing.T, c *http.Client, url string, header map[string]string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func TestServerServesEachNodeOnItsAddress(t *testing.T) {
	ts := startServer(t, Config{MetricsPathAnnotation: "/custom/metrics"})
	for i, n := range ts.nodes {
		// Verified against the IP SAN (ServerName empty: the URL's IP) and
		// the DNS SAN (the node name).
		for _, sn := range []string{"", n.name} {
			resp, body, err := get(t, ts.client(sn), ts.url(i, ResourceMetricsPath), nil)
			if err != nil {
				t.Fatalf("node %s, server name %q: %v", n.name, sn, err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("node %s: status %d", n.name, resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
				t.Errorf("content type %q", ct)
			}
			fams, err := parseText(body)
			if err != nil {
				t.Fatalf("node %s: %v", n.name, err)
			}
			if _, ok := find(fams, namePodCPU, "ns", "pod-of-"+n.name); !ok {
				t.Errorf("node %s serves someone else's pods:\n%s", n.name, body)
			}
			if s, _ := find(fams, nameNodeCPU); s.ts != t0.Add(time.Minute).UnixMilli() {
				t.Errorf("node %s: timestamp %d does not come from the clock", n.name, s.ts)
			}
		}
	}
	c := ts.client("")
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/healthz", http.StatusOK, "ok"},
		{"/custom/metrics", http.StatusOK, "# HELP container_cpu_usage_seconds_total"},
		{"/metrics/cadvisor", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		resp, body, err := get(t, c, ts.url(0, tt.path), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tt.status || !strings.HasPrefix(string(body), tt.body) {
			t.Errorf("%s: %d %.40q, want %d %q", tt.path, resp.StatusCode, body, tt.status, tt.body)
		}
	}
	resp, err := c.Post(ts.url(0, ResourceMetricsPath), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

func TestServerGzip(t *testing.T) {
	for _, disable := range []bool{false, true} {
		ts := startServer(t, Config{DisableGzip: disable})
		resp, body, err := get(t, ts.client(""), ts.url(1, ResourceMetricsPath), map[string]string{"Accept-Encoding": "gzip"})
		if err != nil {
			t.Fatal(err)
		}
		gzipped := resp.Header.Get("Content-Encoding") == "gzip"
		if gzipped == disable {
			t.Fatalf("disable=%v: Content-Encoding %q", disable, resp.Header.Get("Content-Encoding"))
		}
		if gzipped {
			zr, err := gzip.NewReader(strings.NewReader(string(body)))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := parseText(body); err != nil {
			t.Fatalf("disable=%v: %v", disable, err)
		}
	}
}

func TestServerClientAuth(t *testing.T) {
	dir := t.TempDir()
	clientCA, err := loadOrCreateCA(filepath.Join(dir, "client-ca"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := loadOrCreateCA("", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "client-ca", caCertFile)
	good, bad := clientCert(t, clientCA), clientCert(t, otherCA)

	tests := []struct {
		name         string
		clientCA     bool
		acceptBearer bool
		cert         *tls.Certificate
		token        string
		want         int // 0: the TLS handshake fails
	}{
		{"no auth configured", false, false, nil, "", 200},
		{"client CA, no credentials", true, false, nil, "", 401},
		{"client CA, good cert", true, false, &good, "", 200},
		{"client CA, cert from another CA", true, false, &bad, "", 0},
		{"client CA, bearer not accepted", true, false, nil, "abc", 401},
		{"client CA and bearer, token", true, true, nil, "abc", 200},
		{"client CA and bearer, empty token", true, true, nil, " ", 401},
		{"bearer only, no credentials", false, true, nil, "", 401},
		{"bearer only, token", false, true, nil, "t0ken", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{AcceptBearerTokens: tt.acceptBearer}
			if tt.clientCA {
				cfg.ClientCAFile = caFile
			}
			ts := startServer(t, cfg)
			var certs []tls.Certificate
			if tt.cert != nil {
				certs = append(certs, *tt.cert)
			}
			h := map[string]string{}
			if tt.token != "" {
				h["Authorization"] = "Bearer " + tt.token
			}
			resp, _, err := get(t, ts.client("", certs...), ts.url(0, ResourceMetricsPath), h)
			if tt.want == 0 {
				if err == nil {
					t.Fatalf("request succeeded with status %d, want a TLS failure", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestCertDirRoundTrip(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca1, err := loadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("127.0.20.9")
	c1, err := ca1.servingCert(dir, "n1", ip, now)
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := loadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if !ca1.cert.Equal(ca2.cert) {
		t.Fatal("CA was not reloaded from the cert dir")
	}
	c2, err := ca2.servingCert(dir, "n1", ip, now)
	if err != nil {
		t.Fatal(err)
	}
	if string(c1.Certificate[0]) != string(c2.Certificate[0]) {
		t.Fatal("serving certificate was not reloaded")
	}
	// A different address makes the stored certificate unusable.
	c3, err := ca2.servingCert(dir, "n1", netip.MustParseAddr("127.0.20.10"), now)
	if err != nil {
		t.Fatal(err)
	}
	if string(c1.Certificate[0]) == string(c3.Certificate[0]) {
		t.Fatal("stale serving certificate reused for a new address")
	}
	leaf, err := x509.ParseCertificate(c3.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("serving key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	if fi, err := os.Stat(filepath.Join(dir, caKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("CA key file: %v, mode %v", err, fi.Mode())
	}
}

// BenchmarkServeMetrics measures one request through the handler (no TLS,
// no network), with and without gzip.
func BenchmarkServeMetrics(b *testing.B) {
	cfg := Config{Nodes: 1}
	cfg.complete()
	m := NewNodeMetrics(t0, DefaultNodeOverhead)
	for i := 0; i < 110; i++ {
		m.SetPod(podOf("bench", "pod-"+strconv.Itoa(i), t0, cu("app", t0, 100, 1<<20), cu("sidecar", t0, 5, 1<<20)), t0)
	}
	n := &servedNode{name: "n", ip: netip.MustParseAddr("127.0.20.1"), metrics: m}
	s, err := newServer(&cfg, []*servedNode{n})
	if err != nil {
		b.Fatal(err)
	}
	for _, enc := range []string{"identity", "gzip"} {
		b.Run(enc, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, ResourceMetricsPath, nil)
			req.Header.Set("Accept-Encoding", enc)
			req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 20, 1), Port: 10250}))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				w := discardWriter{h: http.Header{}}
				s.ServeHTTP(&w, req)
				if w.code != 0 && w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
