/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package kubelet

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

const poolPayload = "node_cpu_usage_seconds_total 1 1700000000000\n"

// poolScrape scrapes k through c and fails the test on an error.
func poolScrape(t *testing.T, c *Client) {
	t.Helper()
	var b storage.NodeBatch
	if _, err := c.Scrape(context.Background(), node(internalIP("127.0.0.1")), NewDecoder(), &b); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond every 10 ms for up to d and reports whether it held.
func eventually(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// TestConnPoolParksNoGoroutines: idle kept-alive connections cost the client
// no goroutine (net/http's transport parks two per HTTP/1.1 connection), and
// each is reused by the next scrape of its kubelet.
func TestConnPoolParksNoGoroutines(t *testing.T) {
	const kubelets = 8
	var ks []*kubeletServer
	for range kubelets {
		ks = append(ks, newKubelet(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, poolPayload) }))
	}
	var clients []*Client
	for _, k := range ks {
		clients = append(clients, k.client(t, nil))
	}
	poolScrape(t, clients[0]) // warm up what is made once per process
	before := runtime.NumGoroutine()
	for _, c := range clients[1:] {
		poolScrape(t, c)
	}
	// Each new connection adds its server's goroutine and nothing on the
	// client's side (net/http's transport: two more); the servers'
	// goroutines may take a moment to park.
	limit := before + kubelets - 1
	eventually(2*time.Second, func() bool { return runtime.NumGoroutine() <= limit })
	if got := runtime.NumGoroutine(); got > limit {
		t.Errorf("%d goroutines with %d more idle connections, want at most %d (one per server connection)", got, kubelets-1, limit)
	}
	for i, c := range clients {
		poolScrape(t, c)
		if n := ks[i].conns.Load(); n != 1 {
			t.Errorf("kubelet %d: %d connections for two scrapes, want 1", i, n)
		}
	}
}

// TestConnPoolRetriesConnectionClosedWhileIdle: a kubelet that closed the
// idle connection (restart, idle timeout) costs the next scrape a new
// connection, not an error.
func TestConnPoolRetriesConnectionClosedWhileIdle(t *testing.T) {
	k := newKubelet(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, poolPayload) })
	c := k.client(t, nil)
	poolScrape(t, c)
	k.CloseClientConnections()
	poolScrape(t, c)
	if n, r := k.conns.Load(), k.requests.Load(); n != 2 || r != 2 {
		t.Errorf("%d connections and %d requests, want 2 and 2", n, r)
	}
}

// TestConnPoolClosesWhatItCannotReuse: a connection is kept only after a
// response read to its end that allows it; otherwise the next scrape dials.
func TestConnPoolClosesWhatItCannotReuse(t *testing.T) {
	tests := []struct {
		name    string
		handler func(k *kubeletServer, w http.ResponseWriter, r *http.Request)
		ctx     func() (context.Context, context.CancelFunc)
	}{
		{
			name: "Connection: close",
			handler: func(_ *kubeletServer, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Connection", "close")
				io.WriteString(w, poolPayload)
			},
		},
		{
			name: "error body not read to its end",
			handler: func(_ *kubeletServer, w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
				io.WriteString(w, strings.Repeat("x", 64<<10))
			},
		},
		{
			name:    "timed out",
			handler: func(k *kubeletServer, _ http.ResponseWriter, r *http.Request) { k.hang(r) },
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var k *kubeletServer
			k = newKubelet(t, func(w http.ResponseWriter, r *http.Request) { tc.handler(k, w, r) })
			c := k.client(t, nil)
			for i := range 2 {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if tc.ctx != nil {
					ctx, cancel = tc.ctx()
				}
				var b storage.NodeBatch
				_, _ = c.Scrape(ctx, node(internalIP("127.0.0.1")), NewDecoder(), &b)
				cancel()
				if n := k.conns.Load(); n != int32(i+1) {
					t.Fatalf("scrape %d: %d connections, want %d", i+1, n, i+1)
				}
			}
		})
	}
}

// TestConnPoolSweepsIdleConnections: a connection idle for IdleConnTimeout is
// closed by the pool's timer, without a request to notice it.
func TestConnPoolSweepsIdleConnections(t *testing.T) {
	var closed atomic.Int32
	k := &kubeletServer{done: make(chan struct{})}
	k.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, poolPayload) }))
	k.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed.Add(1)
		}
	}
	k.StartTLS()
	t.Cleanup(k.Close)
	k.port = k.Listener.Addr().(*net.TCPAddr).Port

	std := k.transport(nil)
	std.IdleConnTimeout = 100 * time.Millisecond
	p := newConnPool(std)
	c, err := NewClient(ClientOptions{Transport: p, DefaultPort: k.port})
	if err != nil {
		t.Fatal(err)
	}
	poolScrape(t, c)
	if closed.Load() != 0 {
		t.Fatal("connection closed right after the scrape")
	}
	if !eventually(5*time.Second, func() bool { return closed.Load() == 1 }) {
		t.Fatal("timed out waiting for the idle connection to be closed")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) != 0 || p.sweeping {
		t.Errorf("after the sweep: %d hosts with idle connections, sweeping %v; want none", len(p.idle), p.sweeping)
	}
}

// TestConnPoolCloseIdleConnections closes the idle connections at once.
func TestConnPoolCloseIdleConnections(t *testing.T) {
	k := newKubelet(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, poolPayload) })
	p := newConnPool(k.transport(nil))
	c, err := NewClient(ClientOptions{Transport: p, DefaultPort: k.port})
	if err != nil {
		t.Fatal(err)
	}
	poolScrape(t, c)
	p.CloseIdleConnections()
	poolScrape(t, c)
	if n := k.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2: the idle one was closed", n)
	}
}

// TestConnPoolLeavesProxiedRequestsToTransport: a request the transport's
// proxy function sends to a proxy goes through net/http's transport.
func TestConnPoolLeavesProxiedRequestsToTransport(t *testing.T) {
	k := newKubelet(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, poolPayload) })
	var connect atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		connect.Store(r.Method + " " + r.Host)
		w.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(proxy.Close)
	proxyURL, _ := url.Parse(proxy.URL)
	std := k.transport(nil)
	std.Proxy = http.ProxyURL(proxyURL)
	c, err := NewClient(ClientOptions{Transport: newConnPool(std), DefaultPort: k.port})
	if err != nil {
		t.Fatal(err)
	}
	var b storage.NodeBatch
	if _, err := c.Scrape(context.Background(), node(internalIP("127.0.0.1")), NewDecoder(), &b); err == nil {
		t.Fatal("scrape through a proxy that answers 502 succeeded")
	}
	if got, want := connect.Load(), "CONNECT "+net.JoinHostPort("127.0.0.1", k.portString()); got != want {
		t.Errorf("proxy saw %v, want %q", got, want)
	}
	if n := k.requests.Load(); n != 0 {
		t.Errorf("kubelet served %d requests directly, want 0", n)
	}
}

func (k *kubeletServer) portString() string { return strconv.Itoa(k.port) }

// TestConnPoolSweepKeepsRecentConnections: a sweep closes exactly the
// connections idle for IdleConnTimeout, which are the tails of the stacks.
func TestConnPoolSweepKeepsRecentConnections(t *testing.T) {
	p := newConnPool(&http.Transport{IdleConnTimeout: time.Minute})
	now := time.Now()
	// ages per host, newest first as put leaves them
	ages := map[string][]time.Duration{
		"fresh:10250":   {time.Second, 10 * time.Second},
		"mixed:10250":   {time.Second, 30 * time.Second, 2 * time.Minute, 3 * time.Minute},
		"expired:10250": {2 * time.Minute, 5 * time.Minute},
	}
	var conns []net.Conn
	for key, as := range ages {
		for i := len(as) - 1; i >= 0; i-- { // push oldest first
			a, b := net.Pipe()
			conns = append(conns, a, b)
			pc := &poolConn{conn: tls.Client(a, &tls.Config{}), key: key, idleSince: now.Add(-as[i])}
			pc.next = p.idle[key]
			p.idle[key] = pc
		}
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	p.sweep()
	got := map[string]int{}
	for key, top := range p.idle {
		for pc := top; pc != nil; pc = pc.next {
			got[key]++
		}
	}
	want := map[string]int{"fresh:10250": 2, "mixed:10250": 2}
	if len(got) != len(want) || got["fresh:10250"] != 2 || got["mixed:10250"] != 2 {
		t.Errorf("idle connections per host after the sweep: %v, want %v", got, want)
	}
	if !p.sweeping {
		t.Error("sweeper not armed again while connections stay idle")
	}
	p.sweeper.Stop()
}
