/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package kubelet

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

const (
	// idleConns is how many kubelet connections BenchmarkIdleConnections
	// keeps open and idle; what they cost is divided by it.
	idleConns = 500
	// idleKubeletsEnv makes the test binary serve idleConns+1 kubelets
	// instead of running tests (see TestMain); its value is the count.
	idleKubeletsEnv = "KUBELET_BENCH_SERVE"
)

// TestMain runs the tests, or, with idleKubeletsEnv set, is the kubelets of
// BenchmarkIdleConnections in a process of their own.
func TestMain(m *testing.M) {
	if n := os.Getenv(idleKubeletsEnv); n != "" {
		if err := serveIdleKubelets(n); err != nil {
			fmt.Fprintln(os.Stderr, "idle kubelets:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkIdleConnections measures what one idle kept-alive kubelet
// connection of the transport NewTransport builds costs the client: heap and
// goroutines, each the difference over idleConns
// connections (one per node, each scraped once and left idle, as between two
// resolutions) divided by their number; ns/op means nothing and is 0.
//
// NewTransport speaks HTTP/1.1 to kubelets over its own connection pool
// unless the config names its own protocols, because an idle HTTP/2 client
// connection costs more and so do net/http's HTTP/1.1 connections;
// proto=http1 is the default config (the pool), proto=http1/net-http the
// net/http transport the pool is configured by, proto=h2 a config asking for
// h2 first, and this benchmark is the reproducible evidence. The kubelets (one TLS server on
// idleConns+1 loopback ports offering h2 and http/1.1, answering a gzipped
// ~35 KB payload) run in a child process, this test binary re-executed, so
// their per-connection memory stays out of the numbers. Each goroutine adds
// its stack (2-8 KiB); StackInuse is not reported here because stacks freed
// by one sub-benchmark are reused by the next, so only a whole-process reading
// such as hack/bench-scale.sh's shows them.
//
//	go test -run '^$' -bench IdleConnections -benchtime 1x ./pkg/kubelet
func BenchmarkIdleConnections(b *testing.B) {
	k := startIdleKubelets(b, idleConns+1) // port 0 warms the client up
	wantBytes := int64(len(renderPayload(30, 2)))
	for _, tc := range []struct {
		name       string
		nextProtos []string // rest.Config TLSClientConfig.NextProtos
		want       string   // the protocol every connection must negotiate
		netHTTP    bool     // net/http's transport the pool is configured by, instead of the pool
	}{
		{"proto=http1", nil, "http/1.1", false},
		{"proto=http1/net-http", nil, "http/1.1", true},
		{"proto=h2", []string{"h2", "http/1.1"}, "h2", false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rt, err := NewTransport(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: k.ca, NextProtos: tc.nextProtos}}, TransportOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if tc.netHTTP {
				rt = baseTransport(rt).(*connPool).std
			}
			c, err := NewClient(ClientOptions{Transport: rt, UseNodeStatusPort: true})
			if err != nil {
				b.Fatal(err)
			}
			// A node per port: the transport pools connections per
			// host:port, so each node gets a connection of its own.
			nodes := make([]*corev1.Node, len(k.ports))
			for i, port := range k.ports {
				nodes[i] = node(internalIP("127.0.0.1"))
				nodes[i].Name = "node-" + strconv.Itoa(i)
				nodes[i].Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
			}
			// scrape scrapes n and tells which connection carried it.
			scrape := func(n *corev1.Node) httptrace.GotConnInfo {
				var conn httptrace.GotConnInfo
				ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
					GotConn: func(ci httptrace.GotConnInfo) { conn = ci },
				})
				info, err := c.Scrape(ctx, n, NewDecoder(), &storage.NodeBatch{})
				if err != nil {
					b.Fatalf("%s: %v", n.Name, err)
				}
				if info.Bytes != wantBytes {
					b.Fatalf("%s: read %d bytes, want %d", n.Name, info.Bytes, wantBytes)
				}
				if conn.Conn == nil {
					b.Fatalf("%s: no connection traced", n.Name)
				}
				return conn
			}

			var heap, goroutines float64
			for b.Loop() {
				base := runtime.NumGoroutine()
				// Warm up (TLS, HTTP/2 and gzip state made once per
				// process, pools) on a connection kept in both readings.
				scrape(nodes[0])
				m0, g0 := idleReading()
				for _, n := range nodes[1:] {
					conn := scrape(n)
					if conn.Reused {
						b.Fatalf("%s: reused a connection, want one of its own", n.Name)
					}
					if p := negotiated(conn.Conn); p != tc.want {
						b.Fatalf("%s: negotiated %q, want %q", n.Name, p, tc.want)
					}
				}
				m1, g1 := idleReading()
				heap = float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / idleConns
				goroutines = float64(g1-g0) / idleConns

				// What was measured must be idle kept-alive connections:
				// every node's next scrape reuses its idle one.
				for _, n := range nodes[1:] {
					if conn := scrape(n); !conn.Reused || !conn.WasIdle {
						b.Fatalf("%s: second scrape on a new or busy connection (reused %v, idle %v): the connections measured were not kept alive",
							n.Name, conn.Reused, conn.WasIdle)
					}
				}
				utilnet.CloseIdleConnectionsFor(rt)
				waitGoroutines(b, base)
			}
			b.ReportMetric(heap, "heap-B/conn")
			b.ReportMetric(goroutines, "goroutines/conn")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// idleReading returns the memory statistics, with the heap holding only what
// is live, and the number of goroutines.
func idleReading() (runtime.MemStats, int) {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m, runtime.NumGoroutine()
}

// negotiated returns the ALPN protocol of a TLS connection.
func negotiated(c net.Conn) string {
	if tc, ok := c.(interface{ ConnectionState() tls.ConnectionState }); ok {
		return tc.ConnectionState().NegotiatedProtocol
	}
	return fmt.Sprintf("not TLS (%T)", c)
}

// waitGoroutines waits for the goroutines of closed connections to end, so
// that the next iteration starts from as many goroutines as this one.
func waitGoroutines(b *testing.B, want int) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			b.Fatalf("%d goroutines a while after closing the idle connections, want %d", runtime.NumGoroutine(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// idleKubelets is the child process serving the kubelets.
type idleKubelets struct {
	ca    []byte // PEM of the CA that signed the serving certificate
	ports []int  // one per node, all on 127.0.0.1
}

// startIdleKubelets re-executes the test binary as n kubelets and reads the
// CA and ports it prints. The child exits when its stdin closes: in
// b.Cleanup, or when this process dies.
func startIdleKubelets(b *testing.B, n int) *idleKubelets {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), idleKubeletsEnv+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})

	// Line 1: the CA PEM in base64; line 2: the ports.
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	var lines []string
	for len(lines) < 2 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 2 {
		b.Fatalf("idle kubelets exited before listening (%v)", sc.Err())
	}
	k := &idleKubelets{}
	if k.ca, err = base64.StdEncoding.DecodeString(lines[0]); err != nil {
		b.Fatal(err)
	}
	for _, f := range strings.Fields(lines[1]) {
		p, err := strconv.Atoi(f)
		if err != nil {
			b.Fatal(err)
		}
		k.ports = append(k.ports, p)
	}
	if len(k.ports) != n {
		b.Fatalf("idle kubelets listen on %d ports, want %d", len(k.ports), n)
	}
	return k
}

// serveIdleKubelets is the child: one TLS server offering h2 and http/1.1 on
// count ports of 127.0.0.1, answering every request with a gzipped 30-pod
// payload (~35 KB) and keeping connections open, until stdin closes.
func serveIdleKubelets(count string) error {
	n, err := strconv.Atoi(count)
	if err != nil || n <= 0 {
		return fmt.Errorf("%s=%q: want a count of kubelets", idleKubeletsEnv, count)
	}
	ca, err := newCA("idle-kubelets-ca")
	if err != nil {
		return err
	}
	cert, err := ca.servingCert(nil, net.IPv4(127, 0, 0, 1))
	if err != nil {
		return err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(renderPayload(30, 2)); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gz.Bytes())
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	ports := make([]string, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ports[i] = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		go func() {
			if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintln(os.Stderr, "idle kubelets:", err)
				os.Exit(1)
			}
		}()
	}
	if _, err := fmt.Printf("%s\n%s\n", base64.StdEncoding.EncodeToString(ca.pem), strings.Join(ports, " ")); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}
