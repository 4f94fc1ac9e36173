package kubeletsim

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/kubelet"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

type faultServer struct {
	*testServer
	file  string
	clock *clocktesting.FakeClock
	dir   string
}

// startFaultServer serves node-a (127.0.20.1) and node-b (.2) with the fault
// file holding faults; node-b never gets one here.
func startFaultServer(t *testing.T, faults string) *faultServer {
	t.Helper()
	dir := t.TempDir()
	fs := &faultServer{file: filepath.Join(dir, "faults"), dir: dir}
	fs.write(t, faults)
	cfg := Config{Nodes: 2, FaultFile: fs.file, CertDir: filepath.Join(dir, "pki")}
	cfg.complete()
	fs.clock = clocktesting.NewFakeClock(t0.Add(time.Minute))
	cfg.Clock = fs.clock
	ca, err := loadOrCreateCA(cfg.CertDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*servedNode
	for i, name := range []string{"node-a", "node-b"} {
		addr := netip.MustParseAddr([]string{"127.0.20.1", "127.0.20.2"}[i])
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
	s.faults.ca = ca
	if err := s.listen(nodes, -1); err != nil {
		t.Fatal(err)
	}
	s.serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.shutdown(ctx)
	})
	fs.testServer = &testServer{srv: s, ca: ca, nodes: nodes, port: s.port}
	return fs
}

func (fs *faultServer) write(t *testing.T, faults string) {
	t.Helper()
	if err := writeFileAtomic(fs.file, []byte(faults), 0o644); err != nil {
		t.Fatal(err)
	}
}

// apply makes the server read the file now rather than at its next poll.
func (fs *faultServer) apply(t *testing.T, faults string) {
	t.Helper()
	fs.write(t, faults)
	fs.srv.faults.reload()
}

// clientFor trusts roots (the simulator CA when nil), verifies serverName
// ("" means the URL's IP), and times out after timeout.
func (fs *faultServer) clientFor(roots *x509.CertPool, serverName string, timeout time.Duration) *http.Client {
	if roots == nil {
		roots = x509.NewCertPool()
		roots.AddCert(fs.ca.cert)
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			TLSClientConfig:    &tls.Config{RootCAs: roots, ServerName: serverName},
			DisableCompression: true,
		},
	}
}

// decode runs the project's decoder over a payload.
func decode(t *testing.T, body []byte) (storage.NodeBatch, *kubelet.Decoder, error) {
	t.Helper()
	var b storage.NodeBatch
	b.Reset("node-a")
	d := kubelet.NewDecoder()
	err := d.Decode(body, time.Now(), &b)
	return b, d, err
}

func TestFaultFileParsing(t *testing.T) {
	tests := []struct {
		text    string
		want    map[string]fault
		wantErr string
	}{
		{"", map[string]fault{}, ""},
		{"# comment\n\nnode-a http-500\n  node-b  reboot=2  \n", map[string]fault{"node-a": {FaultHTTP500, ""}, "node-b": {FaultReboot, "2"}}, ""},
		{"node-a boom", nil, `unknown fault "boom"`},
		{"node-a http-500\nnode-a refuse", nil, "listed twice"},
		{"node-a", nil, "want `NODE FAULT`"},
		{"node-a nan extra", nil, "want `NODE FAULT`"},
	}
	for _, tc := range tests {
		got, err := parseFaults([]byte(tc.text))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want %q", tc.text, err, tc.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("%q: %v %v, want %v", tc.text, got, err, tc.want)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%q: %s = %v, want %v", tc.text, k, got[k], v)
			}
		}
	}
}

// TestFaultsAnswers gives node-a each fault in turn and checks what a client
// gets; node-b keeps serving normally every time.
func TestFaultsAnswers(t *testing.T) {
	fs := startFaultServer(t, "")
	token := "Bearer sekrit-token"
	tests := []struct {
		fault string
		check func(t *testing.T, resp *http.Response, body []byte, err error)
	}{
		{FaultHTTP500, wantStatus(500, "Internal Server Error")},
		{FaultHTTP401, wantStatus(401, "Unauthorized: "+token)},
		{FaultHTTP403, wantStatus(403, "Forbidden")},
		{FaultHTTP404, wantStatus(404, "Not Found")},
		{FaultHTTP406, wantStatus(406, "Not Acceptable")},
		{FaultHangHeaders, wantErr("awaiting headers")},
		{FaultHangBody, wantIncomplete(1000)},
		{FaultSlowDrip, wantIncomplete(1)},
		{FaultMalformed, wantDecodeErr("after label value")},
		{FaultDuplicateSeries, wantDecodeErr("node_cpu_usage_seconds_total")},
		{FaultTruncatedGzip, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err != nil || resp.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("err %v, encoding %q", err, resp.Header.Get("Content-Encoding"))
			}
			zr, err := gzip.NewReader(strings.NewReader(string(body)))
			if err == nil {
				_, err = io.ReadAll(zr)
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("gunzip: %v, want unexpected EOF", err)
			}
		}},
		{FaultNaN, wantRejected(func(b storage.NodeBatch) bool { return !b.NodePoint.Valid.Has(storage.HasCPU) })},
		{FaultInf, wantRejected(func(b storage.NodeBatch) bool { return !b.Containers[0].Valid.Has(storage.HasMemory) })},
		{FaultNegative, wantRejected(func(b storage.NodeBatch) bool { return !b.Containers[0].Valid.Has(storage.HasCPU) })},
		{FaultFutureTimestamps, wantNodeTime(t0.Add(time.Minute + timestampYr))},
		{FaultPastTimestamps, wantNodeTime(t0.Add(time.Minute - timestampYr))},
	}
	for _, tc := range tests {
		t.Run(tc.fault, func(t *testing.T) {
			fs.apply(t, "node-a "+tc.fault+"\n")
			resp, body, err := get(t, fs.clientFor(nil, "", 500*time.Millisecond), fs.url(0, ResourceMetricsPath), map[string]string{"Authorization": token})
			tc.check(t, resp, body, err)
			resp, body, err = get(t, fs.clientFor(nil, "", 5*time.Second), fs.url(1, ResourceMetricsPath), nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("node-b: %v", err)
			}
			if _, d, err := decode(t, body); err != nil || d.RejectedSamples() > 0 {
				t.Fatalf("node-b: %v, %d rejected", err, d.RejectedSamples())
			}
		})
	}
}

func wantStatus(code int, body string) func(*testing.T, *http.Response, []byte, error) {
	return func(t *testing.T, resp *http.Response, b []byte, err error) {
		if err != nil || resp.StatusCode != code || strings.TrimSpace(string(b)) != body {
			t.Fatalf("got %v %q, want %d %q", err, b, code, body)
		}
	}
}

func wantErr(msg string) func(*testing.T, *http.Response, []byte, error) {
	return func(t *testing.T, _ *http.Response, _ []byte, err error) {
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Fatalf("err %v, want %q", err, msg)
		}
	}
}

// wantIncomplete: the client's timeout ends the body after at least min
// bytes and before its end (net/http may report the cut as a clean EOF).
func wantIncomplete(min int) func(*testing.T, *http.Response, []byte, error) {
	return func(t *testing.T, resp *http.Response, body []byte, err error) {
		if resp == nil || resp.StatusCode != 200 || len(body) < min || strings.HasSuffix(string(body), "resource_scrape_error 0\n") {
			t.Fatalf("err %v, %d bytes: %q", err, len(body), body)
		}
	}
}

func wantDecodeErr(msg string) func(*testing.T, *http.Response, []byte, error) {
	return func(t *testing.T, resp *http.Response, body []byte, err error) {
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("err %v", err)
		}
		if _, _, err := decode(t, body); err == nil || !strings.Contains(err.Error(), msg) {
			t.Fatalf("decode: %v, want an error with %q", err, msg)
		}
	}
}

func wantRejected(ok func(storage.NodeBatch) bool) func(*testing.T, *http.Response, []byte, error) {
	return func(t *testing.T, _ *http.Response, body []byte, err error) {
		if err != nil {
			t.Fatal(err)
		}
		b, d, err := decode(t, body)
		if err != nil || d.RejectedSamples() == 0 || len(b.Containers) != 1 || !ok(b) {
			t.Fatalf("decode: %v, %d rejected, batch %+v", err, d.RejectedSamples(), b)
		}
	}
}

func wantNodeTime(want time.Time) func(*testing.T, *http.Response, []byte, error) {
	return func(t *testing.T, _ *http.Response, body []byte, err error) {
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := decode(t, body)
		if err != nil || b.NodePoint.Timestamp != want.UnixNano() || b.Containers[0].Timestamp != want.UnixNano() {
			t.Fatalf("decode %v: node at %v, want %v", err, time.Unix(0, b.NodePoint.Timestamp).UTC(), want)
		}
	}
}

func TestFaultBigBodies(t *testing.T) {
	saved := hugeBody
	t.Cleanup(func() { hugeBody = saved }) // after the server's shutdown
	hugeBody = 12 << 20                    // still over the 10 MiB the client reads; quicker to gzip under -race
	fs := startFaultServer(t, "node-a huge-body\nnode-b gzip-bomb\n")
	const cap10 = 10 << 20
	for i, wantGzip := range []bool{false, true} {
		resp, err := fs.clientFor(nil, "", 10*time.Second).Get(fs.url(i, ResourceMetricsPath))
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = resp.Body
		if wantGzip {
			if resp.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("bomb not gzipped")
			}
			if len(fs.srv.faults.bomb) > 1<<20 {
				t.Errorf("bomb is %d bytes compressed", len(fs.srv.faults.bomb))
			}
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		}
		n, err := io.Copy(io.Discard, io.LimitReader(r, cap10+1))
		resp.Body.Close()
		if err != nil || n != cap10+1 {
			t.Errorf("node %d: read %d bytes (%v), want more than the 10 MiB cap", i, n, err)
		}
	}
}

func TestFaultTLS(t *testing.T) {
	fs := startFaultServer(t, "")
	simRoots := x509.NewCertPool()
	simRoots.AddCert(fs.ca.cert)
	tests := []struct {
		fault      string
		serverName string // "" verifies the IP
		roots      func() *x509.CertPool
		wantErr    string // "" for success
	}{
		{FaultTLSUnknownCA, "", nil, "unknown authority"},
		{FaultTLSExpired, "", nil, "expired"},
		{FaultTLSWrongName, "", nil, "127.0.20.1"},
		{FaultTLSWrongName, "node-a", nil, "node-a"},
		{FaultTLSNameOnly, "", nil, "doesn't contain any IP SANs"},
		{FaultTLSNameOnly, "node-a", nil, ""},
		{FaultTLSSecondCA, "", nil, "unknown authority"},
		{FaultTLSSecondCA, "", func() *x509.CertPool {
			pem, err := os.ReadFile(SecondCAPath(filepath.Join(fs.dir, "pki")))
			if err != nil {
				t.Fatal(err)
			}
			p := x509.NewCertPool()
			p.AppendCertsFromPEM(pem)
			return p
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.fault+"/"+tc.serverName, func(t *testing.T) {
			fs.apply(t, "node-a "+tc.fault+"\n")
			// the first handshake creates the second CA's file
			_, _, _ = get(t, fs.clientFor(nil, tc.serverName, time.Second), fs.url(0, ResourceMetricsPath), nil)
			roots := simRoots
			if tc.roots != nil {
				roots = tc.roots()
			}
			resp, _, err := get(t, fs.clientFor(roots, tc.serverName, 5*time.Second), fs.url(0, ResourceMetricsPath), nil)
			if tc.wantErr == "" {
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("err %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if _, _, err := get(t, fs.clientFor(nil, "", 5*time.Second), fs.url(1, ResourceMetricsPath), nil); err != nil {
				t.Fatalf("node-b: %v", err)
			}
		})
	}
}

// TestFaultRefuseAndRecover: refuse closes the listener and the connection a
// client keeps alive; clearing the fault listens again.
func TestFaultRefuseAndRecover(t *testing.T) {
	fs := startFaultServer(t, "node-a refuse\n")
	c := fs.clientFor(nil, "", 2*time.Second)
	if _, _, err := get(t, c, fs.url(0, ResourceMetricsPath), nil); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("refused from the start: %v", err)
	}
	fs.apply(t, "")
	if resp, _, err := get(t, c, fs.url(0, ResourceMetricsPath), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the fault: %v", err)
	}
	// c keeps that connection alive; refusing again must drop it too.
	fs.apply(t, "node-a refuse\n")
	_, _, err := get(t, c, fs.url(0, ResourceMetricsPath), nil)
	var op *net.OpError
	if err == nil || !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("refused again with a kept-alive connection: %v", err)
	}
	fs.apply(t, "node-a http-500\n")
	if resp, _, err := get(t, c, fs.url(0, ResourceMetricsPath), nil); err != nil || resp.StatusCode != 500 {
		t.Fatalf("refuse -> http-500: %v", err)
	}
}

// TestFaultFileFollowed: the server notices a rewritten file by itself.
func TestFaultFileFollowed(t *testing.T) {
	fs := startFaultServer(t, "")
	fs.write(t, "node-a http-403\n")
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _, err := get(t, fs.clientFor(nil, "", 2*time.Second), fs.url(0, ResourceMetricsPath), nil)
		if err == nil && resp.StatusCode == 403 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fault not applied after 5s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFaultEvents: a counter reset and a reboot lower the counters once;
// the counters go on rising after, and a reboot moves the start times.
func TestFaultEvents(t *testing.T) {
	fs := startFaultServer(t, "")
	c := fs.clientFor(nil, "", 5*time.Second)
	scrape := func() storage.NodeBatch {
		t.Helper()
		_, body, err := get(t, c, fs.url(0, ResourceMetricsPath), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, d, err := decode(t, body)
		if err != nil || d.RejectedSamples() > 0 || len(b.Containers) != 1 {
			t.Fatalf("decode: %v %+v", err, b)
		}
		return b
	}
	before := scrape()
	for i, ev := range []string{FaultCounterReset, FaultReboot, FaultReboot + "=2"} {
		fs.clock.Step(10 * time.Second)
		fs.apply(t, "node-a "+ev+"\n")
		at := fs.clock.Now()
		after := scrape()
		if after.NodePoint.CPUNanoSeconds != 0 || after.Containers[0].CPUNanoSeconds != 0 {
			t.Fatalf("%s: counters at the event %d, %d, want 0", ev, after.NodePoint.CPUNanoSeconds, after.Containers[0].CPUNanoSeconds)
		}
		fs.clock.Step(10 * time.Second)
		later := scrape()
		// node overhead 50m + container 100m; the container 100m over 10 s
		if later.NodePoint.CPUNanoSeconds != 1_500_000_000 || later.Containers[0].CPUNanoSeconds != 1_000_000_000 {
			t.Errorf("%s: 10 s later node %d, container %d", ev, later.NodePoint.CPUNanoSeconds, later.Containers[0].CPUNanoSeconds)
		}
		wantStart := before.Containers[0].StartTime
		if i > 0 {
			wantStart = at.UnixNano()
		}
		if abs(later.Containers[0].StartTime-wantStart) > int64(time.Millisecond) {
			t.Errorf("%s: start %v, want %v", ev, time.Unix(0, later.Containers[0].StartTime).UTC(), time.Unix(0, wantStart).UTC())
		}
	}
	// removing the line does not undo the events
	fs.apply(t, "")
	if b := scrape(); b.NodePoint.CPUNanoSeconds > 2_000_000_000 {
		t.Errorf("counters jumped back up to %d when the fault line went away", b.NodePoint.CPUNanoSeconds)
	}
}
