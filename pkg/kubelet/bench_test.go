/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package kubelet

import (
	"bufio"
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/klauspost/compress/gzip"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

// renderPayload prints a /metrics/resource body for pods×containers exactly as a
// kubelet does (client_golang text format: families sorted by name, HELP and TYPE
// lines, labels sorted, floats in shortest 'g' form, millisecond timestamps).
func renderPayload(pods, containers int) []byte {
	type ctr struct{ ns, pod, name string }
	var ctrs []ctr
	var podNames [][2]string
	for p := range pods {
		ns := []string{"default", "kube-system", "monitoring", "team-a-prod"}[p%4]
		pod := fmt.Sprintf("app-%02d-%x-%05x", p%17, 0x5f8b9c7d64+p*7919, p*104729%0xfffff)
		podNames = append(podNames, [2]string{ns, pod})
		for c := range containers {
			ctrs = append(ctrs, ctr{ns, pod, []string{"app", "istio-proxy", "log-shipper"}[c%3]})
		}
	}
	const ts = 1752574828796
	f := func(v float64) string {
		switch {
		case v == 0:
			return "0"
		case v == 1:
			return "1"
		case math.IsInf(v, 1):
			return "+Inf"
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	var sb strings.Builder
	head := func(name, typ, stab, help string) {
		fmt.Fprintf(&sb, "# HELP %s [%s] %s\n# TYPE %s %s\n", name, stab, help, name, typ)
	}
	ctrFamily := func(name, typ, stab, help string, value func(i int) string, withTS bool) {
		head(name, typ, stab, help)
		for i, c := range ctrs {
			fmt.Fprintf(&sb, "%s{container=%q,namespace=%q,pod=%q} %s", name, c.name, c.ns, c.pod, value(i))
			if withTS {
				fmt.Fprintf(&sb, " %d", ts+int64(i*37%900))
			}
			sb.WriteByte('\n')
		}
	}
	podFamily := func(name, typ, stab, help string, value func(i int) string) {
		head(name, typ, stab, help)
		for i, p := range podNames {
			fmt.Fprintf(&sb, "%s{namespace=%q,pod=%q} %s %d\n", name, p[0], p[1], value(i), ts+int64(i*41%900))
		}
	}
	ctrFamily("container_cpu_usage_seconds_total", "counter", "STABLE", "Cumulative cpu time consumed by the container in core-seconds",
		func(i int) string { return f(float64(i)*13.731 + 0.123456) }, true)
	ctrFamily("container_memory_working_set_bytes", "gauge", "STABLE", "Current working set of the container in bytes",
		func(i int) string { return f(float64(4096 * (1000 + i*733))) }, true)
	ctrFamily("container_start_time_seconds", "gauge", "STABLE", "Start time of the container since unix epoch in seconds",
		func(i int) string { return f(1.7525712147740223e+09 - float64(i)*3.3) }, false)
	ctrFamily("container_swap_usage_bytes", "gauge", "ALPHA", "Current amount of the container swap usage in bytes. Reported only on non-windows systems",
		func(int) string { return "0" }, true)
	head("node_cpu_usage_seconds_total", "counter", "STABLE", "Cumulative cpu time consumed by the node in core-seconds")
	fmt.Fprintf(&sb, "node_cpu_usage_seconds_total %s %d\n", f(184273.901234), int64(ts))
	head("node_memory_working_set_bytes", "gauge", "STABLE", "Current working set of the node in bytes")
	fmt.Fprintf(&sb, "node_memory_working_set_bytes %s %d\n", f(2.233147392e+09), int64(ts))
	head("node_swap_usage_bytes", "gauge", "ALPHA", "Current swap usage of the node in bytes. Reported only on non-windows systems")
	fmt.Fprintf(&sb, "node_swap_usage_bytes 0 %d\n", int64(ts))
	podFamily("pod_cpu_usage_seconds_total", "counter", "STABLE", "Cumulative cpu time consumed by the pod in core-seconds",
		func(i int) string { return f(float64(i)*27.5 + 0.5) })
	podFamily("pod_memory_working_set_bytes", "gauge", "STABLE", "Current working set of the pod in bytes",
		func(i int) string { return f(float64(8192 * (1000 + i*733))) })
	podFamily("pod_swap_usage_bytes", "gauge", "ALPHA", "Current amount of the pod swap usage in bytes. Reported only on non-windows systems",
		func(int) string { return "0" })
	head("resource_scrape_error", "gauge", "STABLE", "1 if there was an error while getting container metrics, 0 otherwise")
	sb.WriteString("resource_scrape_error 0\n")
	return []byte(sb.String())
}

func TestRenderedPayloadDecodes(t *testing.T) {
	body := renderPayload(110, 2)
	d := NewDecoder()
	var b storage.NodeBatch
	if err := d.Decode(body, received, &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Containers) != 220 || d.AcceptedSamples() != 220*4+4 || d.RejectedSamples() != 0 {
		t.Fatalf("containers=%d accepted=%d rejected=%d", len(b.Containers), d.AcceptedSamples(), d.RejectedSamples())
	}
	for _, c := range b.Containers {
		if c.Valid != all || c.StartTime == 0 || c.Timestamp < ms(1752574828796) {
			t.Fatalf("incomplete point %+v", c)
		}
	}
}

// TestDecodeDoesNotAllocate: after a warm-up, decoding the same node's payload
// into a reused batch allocates nothing.
func TestDecodeDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the decode scratch comes from a sync.Pool, which drops items at random under -race")
	}
	body := renderPayload(110, 2)
	d := NewDecoder()
	var b storage.NodeBatch
	allocs := testing.AllocsPerRun(20, func() {
		b.Reset("worker-1")
		if err := d.Decode(body, received, &b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode allocates %.1f times per call, want 0", allocs)
	}
}

// BenchmarkDecode decodes a 110-pod, 2-container payload into a reused batch.
//
// With decoders=1000 each operation decodes with the next of 1,000 decoders,
// one per node as in the scraper, so each decoder's name table is as cold in
// the CPU caches as it is when a node's turn comes round again.
func BenchmarkDecode(b *testing.B) {
	for _, size := range []struct{ pods, containers, decoders int }{{110, 2, 1}, {10, 1, 1}, {30, 2, 1000}} {
		name := fmt.Sprintf("pods=%d/containers=%d", size.pods, size.containers)
		if size.decoders > 1 {
			name += fmt.Sprintf("/decoders=%d", size.decoders)
		}
		b.Run(name, func(b *testing.B) {
			body := renderPayload(size.pods, size.containers)
			ds := make([]*Decoder, size.decoders)
			var batch storage.NodeBatch
			for i := range ds {
				ds[i] = NewDecoder()
				batch.Reset("worker-1")
				if err := ds[i].Decode(body, received, &batch); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				batch.Reset("worker-1")
				if err := ds[i].Decode(body, received, &batch); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(ds) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkDecodeFixture decodes the recorded kubelet payload.
func BenchmarkDecodeFixture(b *testing.B) {
	body := readFixture(b, "metrics_resource_1.txt")
	d := NewDecoder()
	var batch storage.NodeBatch
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		batch.Reset("worker-1")
		if err := d.Decode(body, received, &batch); err != nil {
			b.Fatal(err)
		}
	}
}

// memoryKubelet is a RoundTripper that answers every request at once with a
// 200 and a gzipped body, the way a kubelet does when gzip is accepted, without
// a network or a transport in between.
type memoryKubelet struct{ gz []byte }

func (m *memoryKubelet) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Encoding": {"gzip"}, "Content-Type": {"text/plain; version=0.0.4"}},
		Body:          io.NopCloser(bytes.NewReader(m.gz)),
		ContentLength: int64(len(m.gz)),
		Request:       r,
	}, nil
}

// BenchmarkScrape scrapes one node again and again into a reused Decoder and
// batch (the scraper's steady state), the kubelet answering gzipped. With
// "memory" the answer comes from an in-memory RoundTripper, so only the
// client's own work counts; with "h1" and "h2" from an httptest TLS server on
// loopback, over a keep-alive net/http transport (HTTP/1.1, or HTTP/2 as in
// production), and the server's allocations count too.
//
//	go test -run '^$' -bench Scrape -benchmem -count 6 ./pkg/kubelet
func BenchmarkScrape(b *testing.B) {
	payloads := []struct {
		name string
		body []byte
	}{
		{"fixture", readFixture(b, "metrics_resource_1.txt")}, // 7 containers, 6.7 KB
		{"pods=30", renderPayload(30, 2)},                     // 60 containers, ~35 KB
	}
	for _, p := range payloads {
		gz := gzipped(b, p.body)
		// memory: no network; h1, h2: net/http's transport; pool: the
		// connection pool NewTransport builds (HTTP/1.1).
		for _, tr := range []string{"memory", "h1", "pool", "h2"} {
			b.Run(p.name+"/"+tr, func(b *testing.B) {
				o := ClientOptions{DefaultPort: 10250}
				var proto atomic.Int32 // HTTP major version the server saw
				if tr == "memory" {
					o.Transport = &memoryKubelet{gz: gz}
				} else {
					srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						proto.Store(int32(r.ProtoMajor))
						w.Header().Set("Content-Type", "text/plain; version=0.0.4")
						if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
							w.Header().Set("Content-Encoding", "gzip")
							w.Write(gz)
							return
						}
						w.Write(p.body)
					}))
					srv.EnableHTTP2 = tr == "h2"
					srv.Config.ErrorLog = log.New(io.Discard, "", 0)
					srv.StartTLS()
					defer srv.Close()
					_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
					o.DefaultPort, _ = strconv.Atoi(port)
					o.Transport = srv.Client().Transport
					if tr == "pool" {
						o.Transport = newConnPool(srv.Client().Transport.(*http.Transport).Clone())
					}
				}
				c, err := NewClient(o)
				if err != nil {
					b.Fatal(err)
				}
				n := &corev1.Node{
					ObjectMeta: metav1.ObjectMeta{Name: "worker-1"},
					Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}},
				}
				d := NewDecoder()
				var batch storage.NodeBatch
				scrape := func() {
					info, err := c.Scrape(context.Background(), n, d, &batch)
					if err != nil {
						b.Fatal(err)
					}
					if info.Bytes != int64(len(p.body)) {
						b.Fatalf("read %d bytes, want %d", info.Bytes, len(p.body))
					}
				}
				scrape() // warm up: connection, name table, pools
				if want := map[string]int32{"h1": 1, "pool": 1, "h2": 2}[tr]; proto.Load() != want {
					b.Fatalf("server saw HTTP/%d, want HTTP/%d", proto.Load(), want)
				}
				b.SetBytes(int64(len(p.body)))
				b.ReportAllocs()
				for b.Loop() {
					scrape()
				}
			})
		}
	}
}

// BenchmarkGunzip inflates a gzipped 30-pod payload (what a kubelet sends when
// asked for gzip) with the standard library and with the inflater the client
// uses (github.com/klauspost/compress/gzip), each through a reused Reader as
// the client's pool does.
func BenchmarkGunzip(b *testing.B) {
	plain := renderPayload(30, 2)
	gz := gzipped(b, plain)
	type resetReader interface {
		io.Reader
		Reset(io.Reader) error
	}
	for _, tc := range []struct {
		name  string
		zr    resetReader
		bytes bool // inflate from a *bytes.Reader instead of a bufio.Reader
	}{
		{"inflater=stdlib", new(stdgzip.Reader), false},
		{"inflater=klauspost", new(gzip.Reader), false},
		{"inflater=klauspost/from=bytes", new(gzip.Reader), true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var out bytes.Buffer
			src := bytes.NewReader(nil)
			br := bufio.NewReader(nil)
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(gz)
				var r io.Reader = src
				if !tc.bytes {
					br.Reset(src)
					r = br
				}
				if err := tc.zr.Reset(r); err != nil {
					b.Fatal(err)
				}
				out.Reset()
				if _, err := out.ReadFrom(tc.zr); err != nil {
					b.Fatal(err)
				}
				if out.Len() != len(plain) {
					b.Fatalf("inflated %d bytes, want %d", out.Len(), len(plain))
				}
			}
		})
	}
}
