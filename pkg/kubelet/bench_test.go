/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package kubelet

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

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
func BenchmarkDecode(b *testing.B) {
	for _, size := range []struct{ pods, containers int }{{110, 2}, {10, 1}} {
		b.Run(fmt.Sprintf("pods=%d/containers=%d", size.pods, size.containers), func(b *testing.B) {
			body := renderPayload(size.pods, size.containers)
			d := NewDecoder()
			var batch storage.NodeBatch
			batch.Reset("worker-1")
			if err := d.Decode(body, received, &batch); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				batch.Reset("worker-1")
				if err := d.Decode(body, received, &batch); err != nil {
					b.Fatal(err)
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
