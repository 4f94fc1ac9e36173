/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package kubelet

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

// kubeletServer is an httptest TLS server on 127.0.0.1 standing in for a kubelet.
type kubeletServer struct {
	*httptest.Server
	port     int
	requests atomic.Int32
	conns    atomic.Int32
	done     chan struct{} // closed at cleanup: releases handlers that hang
}

func newKubelet(t *testing.T, h http.HandlerFunc) *kubeletServer {
	t.Helper()
	k := &kubeletServer{done: make(chan struct{})}
	k.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.requests.Add(1)
		h(w, r)
	}))
	k.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake errors are expected
	k.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			k.conns.Add(1)
		}
	}
	k.StartTLS()
	t.Cleanup(k.Close)
	t.Cleanup(func() { close(k.done) }) // runs before Close
	_, p, err := net.SplitHostPort(k.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	k.port, _ = strconv.Atoi(p)
	return k
}

// hang blocks until the client goes away or the test ends.
func (k *kubeletServer) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-k.done:
	case <-time.After(10 * time.Second):
	}
}

// transport trusts the server's certificate; remap sends dials for some
// host:port to other addresses.
func (k *kubeletServer) transport(remap map[string]string) *http.Transport {
	tr := k.Client().Transport.(*http.Transport).Clone()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := remap[addr]; ok {
			addr = to
		}
		return d.DialContext(ctx, network, addr)
	}
	return tr
}

// client returns a Client of k over the connection pool NewTransport builds
// (net/http's transport when k speaks HTTP/2).
func (k *kubeletServer) client(t *testing.T, mod func(*ClientOptions)) *Client {
	t.Helper()
	var rt http.RoundTripper = newConnPool(k.transport(nil))
	if k.EnableHTTP2 {
		rt = k.transport(nil)
	}
	o := ClientOptions{Transport: rt, DefaultPort: k.port, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&o)
	}
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// closedPort returns a 127.0.0.1 port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func node(addrs ...corev1.NodeAddress) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "worker-1"},
		Status:     corev1.NodeStatus{Addresses: addrs},
	}
}

func internalIP(a string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a}
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// countingTransport counts the body bytes the client reads.
type countingTransport struct {
	http.RoundTripper
	read atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.RoundTripper.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.read}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func TestScrapeResponses(t *testing.T) {
	fixture := readFixture(t, "metrics_resource_1.txt")
	big := bytes.Repeat([]byte("# padding comment line to make the body large\n"), 2000) // 94 KB
	gz := gzipped(t, fixture)
	corrupt := bytes.Clone(gz)
	corrupt[len(corrupt)-6] ^= 0xff // CRC-32 in the trailer
	// A body of exactly 10,000 bytes that gzip cannot shrink: its compressed
	// Content-Length is over a 10,000-byte cap, and only the decompressed
	// size counts.
	incompressible := make([]byte, 10_000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range incompressible {
		if incompressible[i] = byte(rng.UintN(256)); incompressible[i] == '\n' {
			incompressible[i] = 'x'
		}
	}
	copy(incompressible, "# ")
	incompressible[len(incompressible)-1] = '\n'
	var stored bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&stored, gzip.NoCompression)
	zw.Write(incompressible)
	zw.Close()

	tests := []struct {
		name       string
		handler    func(w http.ResponseWriter, r *http.Request)
		maxBody    int64
		reason     string
		status     int
		inError    string // substring of the error message
		containers int
		bytes      int64
		compressed bool // the cap on bytes read is the compressed one
	}{
		{
			name: "success",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
				w.Write(fixture)
			},
			containers: 7,
			bytes:      int64(len(fixture)),
		},
		{
			name: "406 unless Accept is */*",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Values("Accept")[0] != "*/*" || len(r.Header.Values("Accept")) != 1 {
					http.Error(w, "Not Acceptable", http.StatusNotAcceptable)
					return
				}
				w.Write(fixture)
			},
			containers: 7,
			bytes:      int64(len(fixture)),
		},
		{
			name: "gzip",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
					http.Error(w, "expected gzip to be accepted", http.StatusBadRequest)
					return
				}
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(gz)
			},
			containers: 7,
			bytes:      int64(len(fixture)),
		},
		{
			name: "identity despite our gzip ask",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Accept-Encoding") != "gzip" {
					http.Error(w, "expected gzip to be accepted", http.StatusBadRequest)
					return
				}
				w.Write(fixture)
			},
			containers: 7,
			bytes:      int64(len(fixture)),
		},
		{
			name: "gzip, Content-Encoding in upper case",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "GZIP")
				w.Write(gz)
			},
			containers: 7,
			bytes:      int64(len(fixture)),
		},
		{
			name: "gzip, Content-Encoding in mixed case",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "GZip")
				w.Write(gz)
			},
			containers: 7,
			bytes:      int64(len(fixture)),
		},
		{
			// not a gzip stream (with Content-Length: 0 the transports
			// did not decompress it either)
			name: "gzip, empty body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
			},
			reason: ReasonReadBody,
		},
		{
			name: "gzip, not gzip data",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(fixture)
			},
			reason: ReasonReadBody,
		},
		{
			name: "truncated gzip",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(gz[:len(gz)/2])
			},
			reason: ReasonReadBody,
		},
		{
			name: "gzip without its trailer",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(gz[:len(gz)-8])
			},
			reason: ReasonReadBody,
		},
		{
			name: "corrupt gzip",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(corrupt)
			},
			reason: ReasonReadBody,
		},
		{
			name: "body shorter than Content-Length",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(fixture)))
				w.Write(fixture[:100])
			},
			reason: ReasonReadBody,
		},
		{
			name: "500",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "failed to get stats: cadvisor is unhappy", 500)
			},
			reason: ReasonHTTPStatus, status: 500, inError: "cadvisor is unhappy",
		},
		{
			name:    "401",
			handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "Unauthorized", 401) },
			reason:  ReasonHTTPStatus, status: 401, inError: "HTTP 401 Unauthorized",
		},
		{
			name:    "404",
			handler: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
			reason:  ReasonHTTPStatus, status: 404, inError: "404 page not found",
		},
		{
			name: "long error body is cut",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(503)
				w.Write([]byte(strings.Repeat("x", 300) + "TAIL"))
			},
			reason: ReasonHTTPStatus, status: 503, inError: strings.Repeat("x", bodyExcerptBytes) + `"`,
		},
		{
			name: "redirect is not followed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "https://example.com/steal", http.StatusFound)
			},
			reason: ReasonHTTPStatus, status: 302,
		},
		{
			name:    "body over the cap, with Content-Length",
			handler: func(w http.ResponseWriter, r *http.Request) { w.Write(big) },
			maxBody: 10_000,
			reason:  ReasonBodyTooLarge,
		},
		{
			name: "body over the cap, chunked",
			handler: func(w http.ResponseWriter, r *http.Request) {
				for i := 0; i < len(big); i += 1000 {
					w.Write(big[i : i+1000])
					w.(http.Flusher).Flush()
				}
			},
			maxBody: 10_000,
			reason:  ReasonBodyTooLarge,
		},
		{
			name: "body over the cap once decompressed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(gzipped(t, big))
			},
			maxBody: 10_000,
			reason:  ReasonBodyTooLarge,
		},
		{
			name: "gzip, compressed over the cap, decompressed exactly at it",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if stored.Len() <= 10_000 {
					http.Error(w, "test body compressed", http.StatusInternalServerError)
					return
				}
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(stored.Bytes())
			},
			maxBody: 10_000,
			bytes:   10_000,
		},
		{
			name: "gzip, compressed body over its own cap, chunked",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				for i := 0; i < 4; i++ { // 40,000 bytes in all, the cap is 15,346
					w.Write(stored.Bytes()[:10_000])
					w.(http.Flusher).Flush()
				}
			},
			maxBody:    10_000,
			reason:     ReasonBodyTooLarge,
			inError:    "over 15346 bytes compressed",
			compressed: true,
		},
		{
			name:    "body exactly at the cap",
			handler: func(w http.ResponseWriter, r *http.Request) { w.Write(big[:10_000]) },
			maxBody: 10_000,
			bytes:   10_000,
		},
		{
			name:    "not the exposition format",
			handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>hello</html>\n")) },
			reason:  ReasonDecode, inError: "line 1",
		},
		{
			name:    "empty body",
			handler: func(w http.ResponseWriter, r *http.Request) {},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var gotPath, gotAccept string
			k := newKubelet(t, func(w http.ResponseWriter, r *http.Request) {
				gotPath, gotAccept = r.URL.RequestURI(), r.Header.Get("Accept")
				tc.handler(w, r)
			})
			counter := &countingTransport{RoundTripper: k.transport(nil)}
			c := k.client(t, func(o *ClientOptions) {
				o.Transport = counter
				o.MaxBodyBytes = tc.maxBody
			})
			var b storage.NodeBatch
			b.Containers = append(b.Containers, storage.ContainerPoint{Pod: "stale"})
			info, err := c.Scrape(context.Background(), node(internalIP("127.0.0.1")), NewDecoder(), &b)

			if gotPath != ResourceMetricsPath || gotAccept != "*/*" {
				t.Errorf("request %s with Accept %q", gotPath, gotAccept)
			}
			if got := Reason(err); got != tc.reason {
				t.Fatalf("Reason = %q, want %q (err: %v)", got, tc.reason, err)
			}
			if got := StatusCode(err); got != tc.status {
				t.Errorf("StatusCode = %d, want %d", got, tc.status)
			}
			if err != nil {
				var se *ScrapeError
				if !errors.As(err, &se) {
					t.Fatalf("error %T is not a *ScrapeError", err)
				}
				if !strings.Contains(err.Error(), tc.inError) {
					t.Errorf("error %q does not contain %q", err, tc.inError)
				}
				if tc.reason == ReasonDecode {
					var de *DecodeError
					if !errors.As(err, &de) {
						t.Errorf("decode error does not wrap a *DecodeError: %v", err)
					}
				}
				if len(b.Containers) != 0 || b.Node != "worker-1" {
					t.Errorf("failed scrape left batch %+v", b)
				}
				readCap := tc.maxBody
				if tc.compressed {
					readCap = compressedCap(tc.maxBody)
				}
				if tc.maxBody > 0 && counter.read.Load() > readCap+1 {
					t.Errorf("read %d body bytes, cap is %d", counter.read.Load(), readCap)
				}
				return
			}
			if len(b.Containers) != tc.containers || b.Node != "worker-1" || b.ScrapedAt == 0 {
				t.Errorf("batch node=%q at=%d with %d containers, want worker-1 with %d", b.Node, b.ScrapedAt, len(b.Containers), tc.containers)
			}
			want := ScrapeInfo{Address: net.JoinHostPort("127.0.0.1", strconv.Itoa(k.port)), Bytes: tc.bytes}
			if tc.containers == 7 {
				want.Series = 32
			}
			if info != want {
				t.Errorf("info = %+v, want %+v", info, want)
			}
		})
	}
}

// TestScrapeGzipWithoutTransportCompression: the client asks for gzip itself
// and decompresses, so a transport with compression disabled (which neither
// asks nor decompresses) changes nothing.
func TestScrapeGzipWithoutTransportCompression(t *testing.T) {
	fixture := readFixture(t, "metrics_resource_1.txt")
	gz := gzipped(t, fixture)
	var cut atomic.Bool
	k := newKubelet(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "gzip" {
			http.Error(w, "want Accept-Encoding: gzip", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		if cut.Load() {
			w.Write(gz[:len(gz)-3])
			return
		}
		w.Write(gz)
	})
	tr := k.transport(nil)
	tr.DisableCompression = true
	c := k.client(t, func(o *ClientOptions) { o.Transport = tr })
	var b storage.NodeBatch
	info, err := c.Scrape(context.Background(), node(internalIP("127.0.0.1")), NewDecoder(), &b)
	if err != nil || len(b.Containers) != 7 || info.Bytes != int64(len(fixture)) {
		t.Fatalf("err=%v containers=%d info=%+v", err, len(b.Containers), info)
	}
	cut.Store(true)
	if _, err := c.Scrape(context.Background(), node(internalIP("127.0.0.1")), NewDecoder(), &b); Reason(err) != ReasonReadBody {
		t.Errorf("truncated gzip: Reason = %q (err: %v), want read_body", Reason(err), err)
	}
}

// TestScrapeDisableCompression: with DisableCompression (a kubeconfig's
// disable-compression) the request asks for no gzip; a kubelet that gzips
// anyway is still decoded.
func TestScrapeDisableCompression(t *testing.T) {
	fixture := readFixture(t, "metrics_resource_1.txt")
	gz := gzipped(t, fixture)
	var asked atomic.Value
	k := newKubelet(t, func(w http.ResponseWriter, r *http.Request) {
		asked.Store(r.Header.Get("Accept-Encoding"))
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz)
	})
	tr := k.transport(nil)
	tr.DisableCompression = true // as client-go builds it from the same kubeconfig
	c := k.client(t, func(o *ClientOptions) { o.Transport = tr; o.DisableCompression = true })
	var b storage.NodeBatch
	info, err := c.Scrape(context.Background(), node(internalIP("127.0.0.1")), NewDecoder(), &b)
	if err != nil || len(b.Containers) != 7 || info.Bytes != int64(len(fixture)) {
		t.Fatalf("err=%v containers=%d info=%+v", err, len(b.Containers), info)
	}
	if got := asked.Load(); got != "" {
		t.Errorf("Accept-Encoding = %q, want none", got)
	}
}

func TestScrapeReusesConnections(t *testing.T) {
	fixture := readFixture(t, "metrics_resource_1.txt")
	var fail atomic.Bool
	k := newKubelet(t, func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, strings.Repeat("e", 3000), 500)
			return
		}
		w.Write(fixture)
	})
	c := k.client(t, nil)
	d := NewDecoder()
	var b storage.NodeBatch
	for i := range 4 {
		fail.Store(i%2 == 1)
		if _, err := c.Scrape(context.Background(), node(internalIP("127.0.0.1")), d, &b); (err != nil) != (i%2 == 1) {
			t.Fatalf("scrape %d: %v", i, err)
		}
	}
	if n := k.conns.Load(); n != 1 {
		t.Errorf("4 scrapes used %d connections, want 1", n)
	}
}

// TestScrapeGzipReusesConnections: decompressing ourselves still reads each
// body to its end, so the connection is kept, over HTTP/1.1 and HTTP/2.
func TestScrapeGzipReusesConnections(t *testing.T) {
	fixture := readFixture(t, "metrics_resource_1.txt")
	gz := gzipped(t, fixture)
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			var proto atomic.Int32
			k := &kubeletServer{done: make(chan struct{})}
			k.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				proto.Store(int32(r.ProtoMajor))
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(gz)
			}))
			k.EnableHTTP2 = h2
			k.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					k.conns.Add(1)
				}
			}
			k.StartTLS()
			t.Cleanup(k.Close)
			_, p, _ := net.SplitHostPort(k.Listener.Addr().String())
			k.port, _ = strconv.Atoi(p)
			c := k.client(t, nil)
			d := NewDecoder()
			var b storage.NodeBatch
			for i := range 4 {
				if info, err := c.Scrape(context.Background(), node(internalIP("127.0.0.1")), d, &b); err != nil || info.Bytes != int64(len(fixture)) {
					t.Fatalf("scrape %d: %v, %+v", i, err, info)
				}
			}
			if want := map[bool]int32{false: 1, true: 2}[h2]; proto.Load() != want {
				t.Errorf("served HTTP/%d, want HTTP/%d", proto.Load(), want)
			}
			if n := k.conns.Load(); n != 1 {
				t.Errorf("4 scrapes used %d connections, want 1", n)
			}
		})
	}
}

func TestScrapeTimeouts(t *testing.T) {
	half := readFixture(t, "metrics_resource_1.txt")[:1000]
	tests := []struct {
		name    string
		handler func(k *kubeletServer, w http.ResponseWriter, r *http.Request)
		ctx     func() (context.Context, context.CancelFunc)
		reason  string
	}{
		{
			name:    "hang before headers",
			handler: func(k *kubeletServer, w http.ResponseWriter, r *http.Request) { k.hang(r) },
			reason:  ReasonTimeout,
		},
		{
			name: "hang mid-body",
			handler: func(k *kubeletServer, w http.ResponseWriter, r *http.Request) {
				w.Write(half)
				w.(http.Flusher).Flush()
				k.hang(r)
			},
			reason: ReasonTimeout,
		},
		{
			name:    "caller's deadline",
			handler: func(k *kubeletServer, w http.ResponseWriter, r *http.Request) { k.hang(r) },
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			reason: ReasonTimeout,
		},
		{
			name:    "caller cancels",
			handler: func(k *kubeletServer, w http.ResponseWriter, r *http.Request) { k.hang(r) },
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx, cancel
			},
			reason: ReasonCanceled,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var k *kubeletServer
			k = newKubelet(t, func(w http.ResponseWriter, r *http.Request) { tc.handler(k, w, r) })
			timeout := 200 * time.Millisecond
			if tc.ctx != nil {
				timeout = 10 * time.Second // the caller's context ends first
			}
			c := k.client(t, func(o *ClientOptions) { o.Timeout = timeout })
			ctx, cancel := context.Background(), func() {}
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			start := time.Now()
			var b storage.NodeBatch
			_, err := c.Scrape(ctx, node(internalIP("127.0.0.1")), NewDecoder(), &b)
			if got := Reason(err); got != tc.reason {
				t.Errorf("Reason = %q, want %q (err: %v)", got, tc.reason, err)
			}
			// The error names the context's end, as net/http's does: what an
			// operator reads in the log line of the failed scrape.
			want := map[string]error{ReasonTimeout: context.DeadlineExceeded, ReasonCanceled: context.Canceled}[tc.reason]
			if want != nil && !errors.Is(err, want) {
				t.Errorf("error %q does not wrap %v", err, want)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("took %v", el)
			}
		})
	}
}

func TestScrapeAddresses(t *testing.T) {
	fixture := readFixture(t, "metrics_resource_1.txt")
	k := newKubelet(t, func(w http.ResponseWriter, r *http.Request) { w.Write(fixture) })
	plain := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(fixture) }))
	plain.Config.ErrorLog = log.New(io.Discard, "", 0)
	plain.Start()
	t.Cleanup(plain.Close)
	port := strconv.Itoa(k.port)
	closed := "127.0.0.1:" + strconv.Itoa(closedPort(t))
	// Documentation addresses (RFC 5737) dialed somewhere on 127.0.0.1 instead.
	remap := map[string]string{
		"192.0.2.1:" + port:      closed,                         // refuses
		"192.0.2.2:" + port:      plain.Listener.Addr().String(), // speaks plain HTTP
		"node-1.example:" + port: k.Listener.Addr().String(),
		"198.51.100.1:" + port:   closed,
		"[2001:db8::1]:" + port:  closed,
	}
	hostname := func(a string) corev1.NodeAddress { return corev1.NodeAddress{Type: corev1.NodeHostName, Address: a} }
	external := func(a string) corev1.NodeAddress { return corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: a} }

	tests := []struct {
		name   string
		node   *corev1.Node
		types  []corev1.NodeAddressType
		reason string
		addr   string // that answered or was tried last
	}{
		{name: "internal IP", node: node(external("192.0.2.1"), internalIP("127.0.0.1")), addr: "127.0.0.1:" + port},
		{name: "first refuses, second serves", node: node(internalIP("192.0.2.1"), external("127.0.0.1")), addr: "127.0.0.1:" + port},
		{name: "all internal IPs, then external", node: node(external("127.0.0.1"), internalIP("192.0.2.1"), internalIP("2001:db8::1")), addr: "127.0.0.1:" + port},
		{name: "hostname last", node: node(hostname("node-1.example"), internalIP("192.0.2.1"), external("198.51.100.1")), reason: ReasonTLS, addr: "node-1.example:" + port},
		{
			name: "preference order from options", node: node(internalIP("192.0.2.1"), hostname("127.0.0.1")),
			types: []corev1.NodeAddressType{corev1.NodeHostName, corev1.NodeInternalIP}, addr: "127.0.0.1:" + port,
		},
		{name: "all refuse", node: node(internalIP("192.0.2.1"), external("198.51.100.1")), reason: ReasonConnection, addr: "198.51.100.1:" + port},
		{name: "a TLS failure does not fall back", node: node(internalIP("192.0.2.2"), external("127.0.0.1")), reason: ReasonTLS, addr: "192.0.2.2:" + port},
		{name: "no address", node: node(), reason: ReasonNoAddress},
		{name: "no address of a wanted type", node: node(corev1.NodeAddress{Type: corev1.NodeInternalDNS, Address: "127.0.0.1"}), reason: ReasonNoAddress},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := k.client(t, func(o *ClientOptions) {
				o.Transport = k.transport(remap)
				o.AddressTypes = tc.types
			})
			var b storage.NodeBatch
			info, err := c.Scrape(context.Background(), tc.node, NewDecoder(), &b)
			if got := Reason(err); got != tc.reason {
				t.Fatalf("Reason = %q, want %q (err: %v)", got, tc.reason, err)
			}
			if info.Address != tc.addr {
				t.Errorf("address %q, want %q", info.Address, tc.addr)
			}
			if err == nil && len(b.Containers) != 7 {
				t.Errorf("%d containers", len(b.Containers))
			}
			// a failure after fallbacks names every address tried
			if err != nil && tc.name == "all refuse" && !strings.Contains(err.Error(), "192.0.2.1:"+port) {
				t.Errorf("error does not name the first address: %v", err)
			}
		})
	}
}

func TestScrapeNodeStatusPort(t *testing.T) {
	k := newKubelet(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("node_cpu_usage_seconds_total 1\n")) })
	n := node(internalIP("127.0.0.1"))
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(k.port)
	closed := closedPort(t)
	for _, use := range []bool{true, false} {
		t.Run(fmt.Sprint("UseNodeStatusPort=", use), func(t *testing.T) {
			c := k.client(t, func(o *ClientOptions) {
				o.DefaultPort = closed
				o.UseNodeStatusPort = use
			})
			var b storage.NodeBatch
			info, err := c.Scrape(context.Background(), n, NewDecoder(), &b)
			want, wantAddr := "", "127.0.0.1:"+strconv.Itoa(k.port)
			if !use {
				want, wantAddr = ReasonConnection, "127.0.0.1:"+strconv.Itoa(closed)
			}
			if Reason(err) != want || info.Address != wantAddr {
				t.Errorf("reason %q address %q, want %q %q (err: %v)", Reason(err), info.Address, want, wantAddr, err)
			}
		})
	}
}

func TestScrapePathAnnotation(t *testing.T) {
	var got atomic.Value
	k := newKubelet(t, func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.URL.RequestURI())
		w.Write([]byte("node_cpu_usage_seconds_total 1\n"))
	})
	c := k.client(t, nil)
	tests := []struct {
		annotation string
		wantURI    string
		reason     string
	}{
		{annotation: "/api/v1/nodes/worker-1/proxy/metrics/resource", wantURI: "/api/v1/nodes/worker-1/proxy/metrics/resource"},
		{annotation: "/metrics/resource/v1alpha1?x=1", wantURI: "/metrics/resource/v1alpha1?x=1"},
		{annotation: "", wantURI: ResourceMetricsPath},
		{annotation: "/a%2Fb/metrics", wantURI: "/a%2Fb/metrics"},
		{annotation: "https://evil.example/metrics", reason: ReasonInvalidPath},
		{annotation: "//evil.example/metrics", reason: ReasonInvalidPath},
		{annotation: "metrics/resource", reason: ReasonInvalidPath},
		{annotation: "/metrics#frag", reason: ReasonInvalidPath},
	}
	for _, tc := range tests {
		t.Run(tc.annotation, func(t *testing.T) {
			got.Store("")
			n := node(internalIP("127.0.0.1"))
			n.Annotations = map[string]string{PathAnnotation: tc.annotation}
			var b storage.NodeBatch
			_, err := c.Scrape(context.Background(), n, NewDecoder(), &b)
			if Reason(err) != tc.reason {
				t.Fatalf("Reason = %q, want %q (err: %v)", Reason(err), tc.reason, err)
			}
			if uri := got.Load().(string); uri != tc.wantURI {
				t.Errorf("server saw %q, want %q", uri, tc.wantURI)
			}
		})
	}
}

// TestScrapeNeverLeaksToken uses the transport the server builds from a kubeconfig.
func TestScrapeNeverLeaksToken(t *testing.T) {
	const token = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"
	var sawAuth atomic.Value
	sawAuth.Store("")
	k := newKubelet(t, func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		sawAuth.Store(auth)
		// A badly behaved kubelet echoing the credential, with the token at the excerpt's edge.
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, "%s%s\nAuthorization: %s\ntoken=%s bearer %s", strings.Repeat(".", 190), token, auth, token, "other-token-123")
	})
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Certificate().Raw})
	tr, err := rest.TransportFor(&rest.Config{
		Host:            k.URL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: caPEM},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := k.client(t, func(o *ClientOptions) { o.Transport = tr })
	var b storage.NodeBatch
	_, err = c.Scrape(context.Background(), node(internalIP("127.0.0.1")), NewDecoder(), &b)
	if sawAuth.Load() != "Bearer "+token {
		t.Fatalf("kubelet saw Authorization %q", sawAuth.Load())
	}
	if Reason(err) != ReasonHTTPStatus || StatusCode(err) != 401 {
		t.Fatalf("got %v", err)
	}
	for _, secret := range []string{token, token[:20], "c2VjcmV0LXRva2Vu", "other-token-123"} {
		if strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprintf("%+v", err), secret) {
			t.Errorf("error leaks %q: %v", secret, err)
		}
	}
}

func TestBodyExcerpt(t *testing.T) {
	tests := []struct{ raw, authz, want string }{
		{"forbidden", "", "forbidden"},
		{"got Bearer abc.def, ok", "", "got Bearer [redacted], ok"},
		{"BEARER x\nbearer\ty", "", "BEARER [redacted]\nbearer\ty"},
		{"tok=sekrit123", "Bearer sekrit123", "tok=[redacted]"},
		{"h: Basic dXNlcjpwYXNz", "Basic dXNlcjpwYXNz", "h: [redacted]"},
		{"bad \xff utf8", "", "bad \uFFFD utf8"},
		{strings.Repeat("é", 150), "", strings.Repeat("é", 100)},
	}
	for _, tc := range tests {
		if got := bodyExcerpt([]byte(tc.raw), tc.authz); got != tc.want {
			t.Errorf("bodyExcerpt(%q, %q) = %q, want %q", tc.raw, tc.authz, got, tc.want)
		}
	}
}

func TestScrapeUntrustedCertificate(t *testing.T) {
	k := newKubelet(t, func(w http.ResponseWriter, r *http.Request) {})
	tr := k.transport(nil)
	tr.TLSClientConfig.RootCAs = x509.NewCertPool()
	c := k.client(t, func(o *ClientOptions) { o.Transport = tr })
	var b storage.NodeBatch
	_, err := c.Scrape(context.Background(), node(internalIP("127.0.0.1")), NewDecoder(), &b)
	if Reason(err) != ReasonTLS {
		t.Errorf("Reason = %q, want tls (err: %v)", Reason(err), err)
	}
	if k.requests.Load() != 0 {
		t.Errorf("request reached the server")
	}
}

func TestReason(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&ScrapeError{Reason: ReasonNoAddress}, ReasonNoAddress},
		{fmt.Errorf("wrapped: %w", &ScrapeError{Reason: ReasonHTTPStatus, StatusCode: 500}), ReasonHTTPStatus},
		{&DecodeError{Line: 1, Reason: "x"}, ReasonDecode},
		{context.Canceled, ReasonCanceled},
		{&url.Error{Op: "Get", URL: "https://x", Err: context.DeadlineExceeded}, ReasonTimeout},
		{dial, ReasonConnection},
		{&url.Error{Op: "Get", URL: "https://x", Err: x509.UnknownAuthorityError{}}, ReasonTLS},
		{io.ErrUnexpectedEOF, ReasonConnection},
		{errors.New("something else"), ReasonUnknown},
	}
	for _, tc := range tests {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	if !isDialError(&url.Error{Err: dial}) || isDialError(&net.OpError{Op: "read", Err: errors.New("reset")}) {
		t.Error("isDialError")
	}
}

func TestNewClient(t *testing.T) {
	tr := http.DefaultTransport
	tests := []struct {
		name string
		o    ClientOptions
		ok   bool
	}{
		{"defaults", ClientOptions{Transport: tr}, true},
		{"no transport", ClientOptions{}, false},
		{"bad port", ClientOptions{Transport: tr, DefaultPort: 70000}, false},
		{"negative timeout", ClientOptions{Transport: tr, Timeout: -time.Second}, false},
		{"negative cap", ClientOptions{Transport: tr, MaxBodyBytes: -1}, false},
		{"empty address type", ClientOptions{Transport: tr, AddressTypes: []corev1.NodeAddressType{""}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.o)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err == nil && (c.port != DefaultPort || c.timeout != DefaultTimeout || c.maxBody != DefaultMaxBodyBytes || len(c.addressTypes) != 3) {
				t.Errorf("defaults not applied: %+v", c)
			}
		})
	}
	c, _ := NewClient(ClientOptions{Transport: tr})
	if _, err := c.Scrape(context.Background(), nil, NewDecoder(), &storage.NodeBatch{}); Reason(err) != ReasonInvalid {
		t.Errorf("nil node: %v", err)
	}
}

func TestCompressedCap(t *testing.T) {
	for _, tc := range []struct{ maxBody, want int64 }{
		{10_000, 15_346},
		{DefaultMaxBodyBytes, DefaultMaxBodyBytes + DefaultMaxBodyBytes/8 + 4096},
		{math.MaxInt64 / 2, math.MaxInt64/2 + math.MaxInt64/16 + 4096},
		{math.MaxInt64 - 1<<20, math.MaxInt64 - 1}, // the sum would overflow
		{math.MaxInt64 - 1, math.MaxInt64 - 1},
	} {
		if got := compressedCap(tc.maxBody); got != tc.want {
			t.Errorf("compressedCap(%d) = %d, want %d", tc.maxBody, got, tc.want)
		}
	}
}
