/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package storage

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/metrics/pkg/apis/metrics"
)

const (
	sec = int64(time.Second)
	ms  = int64(time.Millisecond)
	// core is one core-second of CPU counter.
	core = uint64(time.Second)
	mib  = uint64(1 << 20)
)

// t0 is the kubelet's time of the first sample in every scenario.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano()

type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Set(ns int64)   { c.ns.Store(ns) }

func newTestStore(o Options) (*Store, *fakeClock) {
	c := &fakeClock{}
	c.Set(t0)
	o.Now = c.Now
	return NewStore(o), c
}

// pt is a point carrying CPU and memory.
func pt(ts int64, cpu, mem uint64) Point {
	return Point{Timestamp: ts, CPUNanoSeconds: cpu, WorkingSetBytes: mem, Valid: HasCPU | HasMemory}
}

// withStart returns p with a start time.
func withStart(p Point, start int64) Point { p.StartTime = start; return p }

// only returns p with only the given fields valid.
func only(p Point, f Fields) Point { p.Valid = f; return p }

func ctr(ns, pod, name string, p Point) ContainerPoint {
	return ContainerPoint{Namespace: ns, Pod: pod, Container: name, Point: p}
}

// scrape is one StoreNode call of node "n1". at is the local receive time; the
// clock is set to it before storing.
type scrape struct {
	at        int64
	node      Point
	ctrs      []ContainerPoint
	scrapeErr bool
}

func (sc scrape) batch(node string) *NodeBatch {
	return &NodeBatch{Node: node, ScrapedAt: sc.at, NodePoint: sc.node, Containers: sc.ctrs, KubeletScrapeError: sc.scrapeErr}
}

// apply stores the scrapes in order, then sets the clock to readAt (or leaves it
// at the last scrape's time when readAt is 0).
func apply(s *Store, c *fakeClock, node string, scrapes []scrape, readAt int64) {
	for _, sc := range scrapes {
		c.Set(sc.at)
		s.StoreNode(sc.batch(node))
	}
	if readAt != 0 {
		c.Set(readAt)
	}
}

type wantUsage struct {
	ts, window int64
	nanocores  int64
	bytes      int64
}

type wantCtr struct {
	name      string
	nanocores int64
	bytes     int64
}

type wantPod struct {
	ns, name   string
	ok         bool
	ts, window int64
	ctrs       []wantCtr
}

func checkUsage(t *testing.T, what string, got corev1.ResourceList, nanocores, bytes int64) {
	t.Helper()
	if len(got) != 2 {
		t.Errorf("%s: usage has %d resources, want cpu and memory: %v", what, len(got), got)
	}
	cpu, mem := got[corev1.ResourceCPU], got[corev1.ResourceMemory]
	if v := cpu.ScaledValue(resource.Nano); v != nanocores {
		t.Errorf("%s: cpu = %d nanocores (%s), want %d", what, v, cpu.String(), nanocores)
	}
	if v := mem.Value(); v != bytes {
		t.Errorf("%s: memory = %d bytes (%s), want %d", what, v, mem.String(), bytes)
	}
	if mem.Format != resource.BinarySI {
		t.Errorf("%s: memory format = %q, want BinarySI", what, mem.Format)
	}
}

func checkNode(t *testing.T, s *Store, node string, want *wantUsage) {
	t.Helper()
	got, ok := s.NodeMetrics(node)
	if ok != (want != nil) {
		t.Fatalf("NodeMetrics(%q) ok = %v, want %v (got %+v)", node, ok, want != nil, got)
	}
	if want == nil {
		return
	}
	if ts := got.Timestamp.UnixNano(); ts != want.ts {
		t.Errorf("node timestamp = t0%+v, want t0%+v", time.Duration(ts-t0), time.Duration(want.ts-t0))
	}
	if got.Window.Duration != time.Duration(want.window) {
		t.Errorf("node window = %v, want %v", got.Window.Duration, time.Duration(want.window))
	}
	checkUsage(t, "node", got.Usage, want.nanocores, want.bytes)
}

func checkPod(t *testing.T, s *Store, node string, want wantPod) {
	t.Helper()
	got, ok := s.PodMetrics(node, want.ns, want.name)
	if ok != want.ok {
		t.Fatalf("PodMetrics(%s/%s) ok = %v, want %v (got %+v)", want.ns, want.name, ok, want.ok, got)
	}
	if !ok {
		return
	}
	if ts := got.Timestamp.UnixNano(); ts != want.ts {
		t.Errorf("pod %s timestamp = t0%+v, want t0%+v", want.name, time.Duration(ts-t0), time.Duration(want.ts-t0))
	}
	if got.Window.Duration != time.Duration(want.window) {
		t.Errorf("pod %s window = %v, want %v", want.name, got.Window.Duration, time.Duration(want.window))
	}
	if len(got.Containers) != len(want.ctrs) {
		t.Fatalf("pod %s has %d containers, want %d: %+v", want.name, len(got.Containers), len(want.ctrs), got.Containers)
	}
	for i, wc := range want.ctrs {
		gc := got.Containers[i]
		if gc.Name != wc.name {
			t.Errorf("pod %s container %d = %q, want %q", want.name, i, gc.Name, wc.name)
		}
		checkUsage(t, want.name+"/"+wc.name, gc.Usage, wc.nanocores, wc.bytes)
	}
}

// steady is a container or node using 250m: 3.75 core-seconds per 15 s.
func steady(i int) Point {
	return pt(t0+int64(i)*15*sec, 10*core+uint64(i)*3750*uint64(time.Millisecond), 100*mib)
}

func TestRatesAndResets(t *testing.T) {
	const ns = "default"
	one := func(p Point) []ContainerPoint { return []ContainerPoint{ctr(ns, "p", "c", p)} }
	served := func(ts, window, nanocores int64, bytes uint64) []wantPod {
		return []wantPod{{ns: ns, name: "p", ok: true, ts: ts, window: window,
			ctrs: []wantCtr{{name: "c", nanocores: nanocores, bytes: int64(bytes)}}}}
	}
	notServed := []wantPod{{ns: ns, name: "p"}}
	at := func(i int) int64 { return t0 + int64(i)*15*sec + 200*ms } // received 200 ms after sampling

	tests := []struct {
		name    string
		opts    Options
		scrapes []scrape
		readAt  int64
		node    *wantUsage
		pods    []wantPod
	}{
		{
			name: "250m exactly over 15s",
			scrapes: []scrape{
				{at: at(0), node: steady(0), ctrs: one(steady(0))},
				{at: at(1), node: steady(1), ctrs: one(steady(1))},
			},
			node: &wantUsage{ts: t0 + 15*sec, window: 15 * sec, nanocores: 250_000_000, bytes: int64(100 * mib)},
			pods: served(t0+15*sec, 15*sec, 250_000_000, 100*mib),
		},
		{
			name: "one scrape has no rate",
			scrapes: []scrape{
				{at: at(0), node: steady(0), ctrs: one(steady(0))},
			},
			pods: notServed,
		},
		{
			name: "rate uses the last two points by default",
			scrapes: []scrape{
				{at: at(0), node: pt(t0, 10*core, mib), ctrs: one(pt(t0, 10*core, mib))},
				{at: at(1), node: pt(t0+15*sec, 25*core, mib), ctrs: one(pt(t0+15*sec, 25*core, mib))},
				{at: at(2), node: pt(t0+30*sec, 28*core, 2*mib), ctrs: one(pt(t0+30*sec, 28*core, 2*mib))},
			},
			node: &wantUsage{ts: t0 + 30*sec, window: 15 * sec, nanocores: 200_000_000, bytes: int64(2 * mib)},
			pods: served(t0+30*sec, 15*sec, 200_000_000, 2*mib),
		},
		{
			name: "counter went down resets the series",
			scrapes: []scrape{
				{at: at(0), ctrs: one(pt(t0, 50*core, mib))},
				{at: at(1), ctrs: one(pt(t0+15*sec, 60*core, mib))},
				{at: at(2), ctrs: one(pt(t0+30*sec, 1*core, mib))},
			},
			pods: notServed,
		},
		{
			name: "after a counter reset the rate starts from the reset point",
			scrapes: []scrape{
				{at: at(0), ctrs: one(pt(t0, 50*core, mib))},
				{at: at(1), ctrs: one(pt(t0+15*sec, 60*core, mib))},
				{at: at(2), ctrs: one(pt(t0+30*sec, 1*core, mib))},
				{at: at(3), ctrs: one(pt(t0+45*sec, 4*core, mib))},
			},
			pods: served(t0+45*sec, 15*sec, 200_000_000, mib),
		},
		{
			name: "container restart (start time changed) resets the series",
			scrapes: []scrape{
				{at: at(0), ctrs: one(withStart(pt(t0, 50*core, mib), t0-100*sec))},
				{at: at(1), ctrs: one(withStart(pt(t0+15*sec, 60*core, mib), t0+10*sec))},
			},
			pods: notServed,
		},
		{
			name: "container restart: served again from the next point",
			scrapes: []scrape{
				{at: at(0), ctrs: one(withStart(pt(t0, 50*core, mib), t0-100*sec))},
				{at: at(1), ctrs: one(withStart(pt(t0+15*sec, 60*core, mib), t0+10*sec))},
				{at: at(2), ctrs: one(withStart(pt(t0+30*sec, 63*core, mib), t0+10*sec))},
			},
			pods: served(t0+30*sec, 15*sec, 200_000_000, mib),
		},
		{
			name: "start time within 1ms is not a restart",
			scrapes: []scrape{
				{at: at(0), ctrs: one(withStart(pt(t0, 50*core, mib), t0-100*sec))},
				{at: at(1), ctrs: one(withStart(pt(t0+15*sec, 53*core, mib), t0-100*sec+ms))},
			},
			pods: served(t0+15*sec, 15*sec, 200_000_000, mib),
		},
		{
			name: "unknown start time is not a restart",
			scrapes: []scrape{
				{at: at(0), ctrs: one(withStart(pt(t0, 50*core, mib), t0-100*sec))},
				{at: at(1), ctrs: one(pt(t0+15*sec, 53*core, mib))},
			},
			pods: served(t0+15*sec, 15*sec, 200_000_000, mib),
		},
		{
			name: "node reboot: node counter went down",
			scrapes: []scrape{
				{at: at(0), node: pt(t0, 5000*core, 8*mib)},
				{at: at(1), node: pt(t0+15*sec, 5030*core, 8*mib)},
				{at: at(2), node: pt(t0+30*sec, 20*core, 4*mib)},
			},
			node: nil,
		},
		{
			name: "node reboot: served again from the next point",
			scrapes: []scrape{
				{at: at(0), node: pt(t0, 5000*core, 8*mib)},
				{at: at(1), node: pt(t0+15*sec, 5030*core, 8*mib)},
				{at: at(2), node: pt(t0+30*sec, 20*core, 4*mib)},
				{at: at(3), node: pt(t0+45*sec, 50*core, 5*mib)},
			},
			node: &wantUsage{ts: t0 + 45*sec, window: 15 * sec, nanocores: 2_000_000_000, bytes: int64(5 * mib)},
		},
		{
			name: "timestamp not advancing is ignored and keeps the previous values",
			scrapes: []scrape{
				{at: at(0), node: pt(t0, 10*core, mib), ctrs: one(pt(t0, 10*core, mib))},
				{at: at(1), node: pt(t0+15*sec, 13*core, mib), ctrs: one(pt(t0+15*sec, 13*core, mib))},
				{at: at(2), node: pt(t0+15*sec, 99*core, 9*mib), ctrs: one(pt(t0+15*sec, 99*core, 9*mib))},
			},
			node: &wantUsage{ts: t0 + 15*sec, window: 15 * sec, nanocores: 200_000_000, bytes: int64(mib)},
			pods: served(t0+15*sec, 15*sec, 200_000_000, mib),
		},
		{
			name: "duplicate point does not extend the staleness grace",
			scrapes: []scrape{
				{at: at(0), ctrs: one(pt(t0, 10*core, mib))},
				{at: at(1), ctrs: one(pt(t0+15*sec, 13*core, mib))},
				{at: at(2), ctrs: one(pt(t0+15*sec, 13*core, mib))},
				{at: at(3), ctrs: one(pt(t0+15*sec, 13*core, mib))},
			},
			readAt: at(1) + 30*sec,
			pods:   notServed,
		},
		{
			name: "backwards timestamp resets the series",
			scrapes: []scrape{
				{at: at(0), node: pt(t0, 10*core, mib), ctrs: one(pt(t0, 10*core, mib))},
				{at: at(1), node: pt(t0+15*sec, 13*core, mib), ctrs: one(pt(t0+15*sec, 13*core, mib))},
				{at: at(2), node: pt(t0+5*sec, 16*core, mib), ctrs: one(pt(t0+5*sec, 16*core, mib))},
			},
			node: nil,
			pods: notServed,
		},
		{
			name: "after a backwards timestamp the rate starts from it",
			scrapes: []scrape{
				{at: at(0), ctrs: one(pt(t0, 10*core, mib))},
				{at: at(1), ctrs: one(pt(t0+15*sec, 13*core, mib))},
				{at: at(2), ctrs: one(pt(t0+5*sec, 16*core, mib))},
				{at: at(3), ctrs: one(pt(t0+25*sec, 20*core, mib))},
			},
			pods: served(t0+25*sec, 20*sec, 200_000_000, mib),
		},
		{
			name: "point far in the future is rejected, previous values kept",
			scrapes: []scrape{
				{at: at(0), ctrs: one(pt(t0, 10*core, mib))},
				{at: at(1), ctrs: one(pt(t0+15*sec, 13*core, mib))},
				{at: at(2), ctrs: one(pt(at(2)+int64(MaxFutureSkew)+sec, 16*core, 5*mib))},
			},
			pods: served(t0+15*sec, 15*sec, 200_000_000, mib),
		},
		{
			name: "point slightly in the future is accepted",
			scrapes: []scrape{
				{at: at(0), ctrs: one(pt(at(0)+5*sec, 10*core, mib))},
				{at: at(1), ctrs: one(pt(at(1)+5*sec, 13*core, mib))},
			},
			pods: served(at(1)+5*sec, 15*sec, 200_000_000, mib),
		},
		{
			name: "a future point never enters the ring",
			scrapes: []scrape{
				{at: at(0), ctrs: one(pt(t0+time.Hour.Nanoseconds(), 10*core, mib))},
				{at: at(1), ctrs: one(pt(t0+15*sec, 13*core, mib))},
				{at: at(2), ctrs: one(pt(t0+30*sec, 16*core, mib))},
			},
			pods: served(t0+30*sec, 15*sec, 200_000_000, mib),
		},
		{
			name: "zero timestamp is rejected",
			scrapes: []scrape{
				{at: at(0), ctrs: one(pt(0, 10*core, mib))},
				{at: at(1), ctrs: one(pt(t0+15*sec, 13*core, mib))},
			},
			pods: notServed,
		},
		{
			name: "absurd rate resets the series",
			scrapes: []scrape{
				{at: at(0), ctrs: one(pt(t0, 10*core, mib))},
				{at: at(1), ctrs: one(pt(t0+15*sec, 10*core+(MaxPlausibleCores+1)*15*core, mib))},
			},
			pods: notServed,
		},
		{
			name: "counter starting at 0 then jumping is not a rate",
			scrapes: []scrape{
				{at: at(0), ctrs: one(pt(t0, 0, mib))},
				{at: at(1), ctrs: one(pt(t0+15*sec, 86400*core, mib))},
			},
			pods: notServed,
		},
		{
			name: "counter starting at 0: rate from the first non-zero point",
			scrapes: []scrape{
				{at: at(0), ctrs: one(pt(t0, 0, mib))},
				{at: at(1), ctrs: one(pt(t0+15*sec, 86400*core, mib))},
				{at: at(2), ctrs: one(pt(t0+30*sec, 86403*core, mib))},
			},
			pods: served(t0+30*sec, 15*sec, 200_000_000, mib),
		},
		{
			name: "zero usage is served (counter not moving, at 0 or not)",
			scrapes: []scrape{
				{at: at(0), ctrs: []ContainerPoint{ctr(ns, "p", "a", pt(t0, 0, 0)), ctr(ns, "p", "b", pt(t0, 7*core, mib))}},
				{at: at(1), ctrs: []ContainerPoint{ctr(ns, "p", "a", pt(t0+15*sec, 0, 0)), ctr(ns, "p", "b", pt(t0+15*sec, 7*core, mib))}},
			},
			pods: []wantPod{{ns: ns, name: "p", ok: true, ts: t0 + 15*sec, window: 15 * sec,
				ctrs: []wantCtr{{name: "a"}, {name: "b", bytes: int64(mib)}}}},
		},
		{
			name: "container lacking CPU in the latest scrape: pod not served",
			scrapes: []scrape{
				{at: at(0), ctrs: []ContainerPoint{ctr(ns, "p", "a", pt(t0, core, mib)), ctr(ns, "p", "b", pt(t0, core, mib))}},
				{at: at(1), ctrs: []ContainerPoint{ctr(ns, "p", "a", pt(t0+15*sec, 4*core, mib)), ctr(ns, "p", "b", pt(t0+15*sec, 4*core, mib))}},
				{at: at(2), ctrs: []ContainerPoint{ctr(ns, "p", "a", pt(t0+30*sec, 7*core, mib)), ctr(ns, "p", "b", only(pt(t0+30*sec, 0, mib), HasMemory))}},
			},
			pods: notServed,
		},
		{
			name: "after a scrape lacking CPU the rate spans back to the last CPU point",
			opts: Options{MaxStaleness: time.Minute},
			scrapes: []scrape{
				{at: at(0), ctrs: one(pt(t0, core, mib))},
				{at: at(1), ctrs: one(pt(t0+15*sec, 4*core, mib))},
				{at: at(2), ctrs: one(only(pt(t0+30*sec, 0, 3*mib), HasMemory))},
				{at: at(3), ctrs: one(pt(t0+45*sec, 10*core, 2*mib))},
			},
			pods: served(t0+45*sec, 30*sec, 200_000_000, 2*mib),
		},
		{
			name: "container lacking memory: pod not served",
			scrapes: []scrape{
				{at: at(0), ctrs: one(pt(t0, core, mib))},
				{at: at(1), ctrs: one(only(pt(t0+15*sec, 4*core, mib), HasCPU))},
			},
			pods: notServed,
		},
		{
			name: "node lacking memory: node not served",
			scrapes: []scrape{
				{at: at(0), node: pt(t0, core, mib)},
				{at: at(1), node: only(pt(t0+15*sec, 4*core, mib), HasCPU)},
			},
			node: nil,
		},
		{
			name: "pod with a new container lacking a rate is not served",
			scrapes: []scrape{
				{at: at(0), ctrs: []ContainerPoint{ctr(ns, "p", "a", pt(t0, core, mib))}},
				{at: at(1), ctrs: []ContainerPoint{ctr(ns, "p", "a", pt(t0+15*sec, 4*core, mib)), ctr(ns, "p", "b", pt(t0+15*sec, core, mib))}},
			},
			pods: notServed,
		},
		{
			name: "pod with a container without any valid field is not served",
			scrapes: []scrape{
				{at: at(0), ctrs: []ContainerPoint{ctr(ns, "p", "a", pt(t0, core, mib)), ctr(ns, "p", "b", pt(t0, core, mib))}},
				{at: at(1), ctrs: []ContainerPoint{ctr(ns, "p", "a", pt(t0+15*sec, 4*core, mib)), ctr(ns, "p", "b", only(pt(t0+15*sec, 4*core, mib), 0))}},
			},
			pods: notServed,
		},
		{
			name: "pod timestamp is the newest, window covers every container",
			scrapes: []scrape{
				{at: at(0), ctrs: []ContainerPoint{ctr(ns, "p", "b", pt(t0+2*sec, core, 2*mib)), ctr(ns, "p", "a", pt(t0, core, mib))}},
				{at: at(1), ctrs: []ContainerPoint{ctr(ns, "p", "b", pt(t0+12*sec, 3*core, 2*mib)), ctr(ns, "p", "a", pt(t0+15*sec, 4*core, mib))}},
			},
			// a: [t0, t0+15s] at 200m; b: [t0+2s, t0+12s] at 200m.
			pods: []wantPod{{ns: ns, name: "p", ok: true, ts: t0 + 15*sec, window: 15 * sec,
				ctrs: []wantCtr{{name: "a", nanocores: 200_000_000, bytes: int64(mib)}, {name: "b", nanocores: 200_000_000, bytes: int64(2 * mib)}}}},
		},
		{
			name: "pod window reaches back to the earliest container interval",
			scrapes: []scrape{
				{at: at(0), ctrs: []ContainerPoint{ctr(ns, "p", "a", pt(t0+1*sec, core, mib)), ctr(ns, "p", "b", pt(t0, core, mib))}},
				{at: at(1), ctrs: []ContainerPoint{ctr(ns, "p", "a", pt(t0+16*sec, 4*core, mib)), ctr(ns, "p", "b", pt(t0+15*sec, 4*core, mib))}},
			},
			pods: []wantPod{{ns: ns, name: "p", ok: true, ts: t0 + 16*sec, window: 16 * sec,
				ctrs: []wantCtr{{name: "a", nanocores: 200_000_000, bytes: int64(mib)}, {name: "b", nanocores: 200_000_000, bytes: int64(mib)}}}},
		},
		{
			name: "rate truncates to whole nanocores",
			scrapes: []scrape{
				{at: at(0), ctrs: one(pt(t0, core, mib))},
				{at: at(1), ctrs: one(pt(t0+3*sec, core+1, mib))},
			},
			// 1 ns of CPU over 3 s = 0.333… nanocores
			pods: served(t0+3*sec, 3*sec, 0, mib),
		},
		{
			name: "CPU gap longer than MaxStaleness is not bridged",
			opts: Options{MaxStaleness: 40 * time.Second},
			scrapes: []scrape{
				{at: at(0), ctrs: one(pt(t0, core, mib))},
				{at: at(1), ctrs: one(only(pt(t0+15*sec, 0, mib), HasMemory))},
				{at: at(2), ctrs: one(only(pt(t0+30*sec, 0, mib), HasMemory))},
				{at: at(3), ctrs: one(pt(t0+45*sec, 10*core, mib))},
			},
			pods: notServed,
		},
		{
			name: "duplicate new container in one batch",
			scrapes: []scrape{
				{at: at(1), ctrs: []ContainerPoint{ctr(ns, "p", "c", pt(t0, core, mib)), ctr(ns, "p", "c", pt(t0+15*sec, 4*core, 2*mib))}},
			},
			pods: served(t0+15*sec, 15*sec, 200_000_000, 2*mib),
		},
		{
			name: "duplicate container in one batch: the later point wins",
			scrapes: []scrape{
				{at: at(0), ctrs: one(pt(t0, core, mib))},
				{at: at(1), ctrs: []ContainerPoint{ctr(ns, "p", "c", pt(t0+15*sec, 4*core, mib)), ctr(ns, "p", "c", pt(t0+30*sec, 10*core, 2*mib))}},
			},
			pods: served(t0+30*sec, 15*sec, 400_000_000, 2*mib),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newTestStore(tc.opts)
			apply(s, c, "n1", tc.scrapes, tc.readAt)
			checkNode(t, s, "n1", tc.node)
			for _, p := range tc.pods {
				checkPod(t, s, "n1", p)
			}
		})
	}
}

func TestCPUWindow(t *testing.T) {
	// Points every 10 s at a constant 300m, except the last interval at 600m,
	// so the chosen base shows in both the window and the rate.
	points := []Point{
		pt(t0, 100*core, mib),
		pt(t0+10*sec, 103*core, mib),
		pt(t0+20*sec, 106*core, mib),
		pt(t0+30*sec, 112*core, mib),
	}
	tests := []struct {
		name      string
		ring      int
		cpuWindow time.Duration
		window    int64
		nanocores int64
	}{
		{name: "no window: last two points", ring: 4, window: 10 * sec, nanocores: 600_000_000},
		{name: "window covers the whole ring", ring: 4, cpuWindow: 30 * time.Second, window: 30 * sec, nanocores: 400_000_000},
		{name: "window larger than the ring holds", ring: 4, cpuWindow: time.Hour, window: 30 * sec, nanocores: 400_000_000},
		{name: "oldest point within the window", ring: 4, cpuWindow: 25 * time.Second, window: 20 * sec, nanocores: 450_000_000},
		{name: "window boundary is inclusive", ring: 4, cpuWindow: 20 * time.Second, window: 20 * sec, nanocores: 450_000_000},
		{name: "window shorter than one interval still uses two points", ring: 4, cpuWindow: 5 * time.Second, window: 10 * sec, nanocores: 600_000_000},
		{name: "ring of 3 limits the window", ring: 3, cpuWindow: time.Minute, window: 20 * sec, nanocores: 450_000_000},
		{name: "ring of 2 is last two points", ring: 2, cpuWindow: time.Minute, window: 10 * sec, nanocores: 600_000_000},
		{name: "ring of 1 is raised to 2", ring: 1, cpuWindow: time.Minute, window: 10 * sec, nanocores: 600_000_000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newTestStore(Options{RingSize: tc.ring, CPUWindow: tc.cpuWindow})
			var scrapes []scrape
			for _, p := range points {
				scrapes = append(scrapes, scrape{at: p.Timestamp + 100*ms, node: p, ctrs: []ContainerPoint{ctr("ns", "p", "c", p)}})
			}
			apply(s, c, "n1", scrapes, 0)
			checkNode(t, s, "n1", &wantUsage{ts: t0 + 30*sec, window: tc.window, nanocores: tc.nanocores, bytes: int64(mib)})
			checkPod(t, s, "n1", wantPod{ns: "ns", name: "p", ok: true, ts: t0 + 30*sec, window: tc.window,
				ctrs: []wantCtr{{name: "c", nanocores: tc.nanocores, bytes: int64(mib)}}})
		})
	}
}

func TestStaleness(t *testing.T) {
	base := []scrape{
		{at: t0 + 100*ms, node: steady(0), ctrs: []ContainerPoint{ctr("ns", "p", "c", steady(0))}},
		{at: t0 + 15*sec + 100*ms, node: steady(1), ctrs: []ContainerPoint{ctr("ns", "p", "c", steady(1))}},
	}
	lastScrape := base[1].at
	served := &wantUsage{ts: t0 + 15*sec, window: 15 * sec, nanocores: 250_000_000, bytes: int64(100 * mib)}
	tests := []struct {
		name      string
		staleness time.Duration
		more      []scrape
		readAt    int64
		want      *wantUsage
	}{
		{name: "served right after the scrape", readAt: lastScrape, want: served},
		{name: "served with its old timestamp during the grace", readAt: lastScrape + 30*sec - 1, want: served},
		{name: "not served once the grace ends", readAt: lastScrape + 30*sec},
		{name: "custom grace", staleness: time.Minute, readAt: lastScrape + 59*sec, want: served},
		{name: "custom grace ends", staleness: time.Minute, readAt: lastScrape + 60*sec},
		{
			name: "next scrape after expiry starts afresh",
			more: []scrape{{at: lastScrape + 45*sec, node: steady(4), ctrs: []ContainerPoint{ctr("ns", "p", "c", steady(4))}}},
		},
		{
			name: "and the one after that is served again",
			more: []scrape{
				{at: lastScrape + 45*sec, node: steady(4), ctrs: []ContainerPoint{ctr("ns", "p", "c", steady(4))}},
				{at: lastScrape + 60*sec, node: steady(5), ctrs: []ContainerPoint{ctr("ns", "p", "c", steady(5))}},
			},
			want: &wantUsage{ts: t0 + 75*sec, window: 15 * sec, nanocores: 250_000_000, bytes: int64(100 * mib)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newTestStore(Options{MaxStaleness: tc.staleness})
			apply(s, c, "n1", append(append([]scrape{}, base...), tc.more...), tc.readAt)
			checkNode(t, s, "n1", tc.want)
			wp := wantPod{ns: "ns", name: "p", ok: tc.want != nil}
			if w := tc.want; w != nil {
				wp.ts, wp.window, wp.ctrs = w.ts, w.window, []wantCtr{{name: "c", nanocores: w.nanocores, bytes: w.bytes}}
			}
			checkPod(t, s, "n1", wp)
			if got := s.Ready(); got != (tc.want != nil) {
				t.Errorf("Ready() = %v, want %v", got, tc.want != nil)
			}
		})
	}
}

// twoPods is a scrape of pods a (containers x, y) and b (container z).
func twoPods(i int, withB bool, scrapeErr bool) scrape {
	sc := scrape{
		at:   t0 + int64(i)*15*sec + 100*ms,
		node: steady(i),
		ctrs: []ContainerPoint{ctr("ns", "a", "x", steady(i)), ctr("ns", "a", "y", steady(i))},
	}
	if withB {
		sc.ctrs = append(sc.ctrs, ctr("ns", "b", "z", steady(i)))
	}
	sc.scrapeErr = scrapeErr
	return sc
}

func TestVanishedSeries(t *testing.T) {
	podA := func(i int) wantPod {
		return wantPod{ns: "ns", name: "a", ok: true, ts: t0 + int64(i)*15*sec, window: 15 * sec,
			ctrs: []wantCtr{{name: "x", nanocores: 250_000_000, bytes: int64(100 * mib)}, {name: "y", nanocores: 250_000_000, bytes: int64(100 * mib)}}}
	}
	podB := func(i int) wantPod {
		return wantPod{ns: "ns", name: "b", ok: true, ts: t0 + int64(i)*15*sec, window: 15 * sec,
			ctrs: []wantCtr{{name: "z", nanocores: 250_000_000, bytes: int64(100 * mib)}}}
	}
	gone := wantPod{ns: "ns", name: "b"}
	tests := []struct {
		name       string
		opts       Options
		scrapes    []scrape
		readAt     int64
		pods       []wantPod
		containers int
		nodes      int
	}{
		{
			name:    "all present",
			scrapes: []scrape{twoPods(0, true, false), twoPods(1, true, false)},
			pods:    []wantPod{podA(1), podB(1)}, containers: 3, nodes: 1,
		},
		{
			name:    "vanished pod is freed",
			scrapes: []scrape{twoPods(0, true, false), twoPods(1, true, false), twoPods(2, false, false)},
			pods:    []wantPod{podA(2), gone}, containers: 2, nodes: 1,
		},
		{
			name:    "returning pod starts afresh",
			scrapes: []scrape{twoPods(0, true, false), twoPods(1, true, false), twoPods(2, false, false), twoPods(3, true, false)},
			pods:    []wantPod{podA(3), gone}, containers: 3, nodes: 1,
		},
		{
			name:    "kubelet scrape error keeps the previous containers",
			scrapes: []scrape{twoPods(0, true, false), twoPods(1, true, false), twoPods(2, false, true)},
			pods:    []wantPod{podA(2), podB(1)}, containers: 3, nodes: 1,
		},
		{
			name:    "kept containers expire with their grace",
			scrapes: []scrape{twoPods(0, true, false), twoPods(1, true, false), twoPods(2, false, true)},
			readAt:  twoPods(1, false, false).at + 30*sec,
			pods:    []wantPod{podA(2), gone}, containers: 3, nodes: 1,
		},
		{
			name:    "kept containers are freed by the next complete scrape",
			scrapes: []scrape{twoPods(0, true, false), twoPods(1, true, false), twoPods(2, false, true), twoPods(3, false, false)},
			pods:    []wantPod{podA(3), gone}, containers: 2, nodes: 1,
		},
		{
			name:    "kept containers continue their rate within the grace",
			opts:    Options{MaxStaleness: time.Minute},
			scrapes: []scrape{twoPods(0, true, false), twoPods(1, true, false), twoPods(2, false, true), twoPods(3, true, false)},
			pods: []wantPod{podA(3), {ns: "ns", name: "b", ok: true, ts: t0 + 45*sec, window: 30 * sec,
				ctrs: []wantCtr{{name: "z", nanocores: 250_000_000, bytes: int64(100 * mib)}}}},
			containers: 3, nodes: 1,
		},
		{
			name:    "kept containers past their grace start afresh",
			scrapes: []scrape{twoPods(0, true, false), twoPods(1, true, false), twoPods(2, false, true), twoPods(3, true, false)},
			pods:    []wantPod{podA(3), gone}, containers: 3, nodes: 1,
		},
		{
			name: "vanished node series is freed",
			scrapes: []scrape{twoPods(0, true, false), twoPods(1, true, false),
				func() scrape { sc := twoPods(2, true, false); sc.node = Point{}; return sc }()},
			pods: []wantPod{podA(2), podB(2)}, containers: 3, nodes: 0,
		},
		{
			name: "node series kept on kubelet scrape error",
			scrapes: []scrape{twoPods(0, true, false), twoPods(1, true, false),
				func() scrape { sc := twoPods(2, true, true); sc.node = Point{}; return sc }()},
			pods: []wantPod{podA(2), podB(2)}, containers: 3, nodes: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newTestStore(tc.opts)
			apply(s, c, "n1", tc.scrapes, tc.readAt)
			for _, p := range tc.pods {
				checkPod(t, s, "n1", p)
			}
			if nodes, ctrs := s.Series(); nodes != tc.nodes || ctrs != tc.containers {
				t.Errorf("Series() = %d, %d; want %d, %d", nodes, ctrs, tc.nodes, tc.containers)
			}
		})
	}
}

func TestDeleteNodeAndForgetPod(t *testing.T) {
	type op struct {
		deleteNode string
		forgetPod  [3]string
		store      *NodeBatch
	}
	n1a, n1b := twoPods(0, true, false).batch("n1"), twoPods(1, true, false).batch("n1")
	n2a, n2b := twoPods(0, true, false).batch("n2"), twoPods(1, true, false).batch("n2")
	setup := []op{{store: n1a}, {store: n2a}, {store: n1b}, {store: n2b}}
	tests := []struct {
		name        string
		ops         []op
		nodeServed  map[string]bool
		podServed   map[string]bool // node/pod
		nodes, ctrs int
	}{
		{
			name:       "setup",
			nodeServed: map[string]bool{"n1": true, "n2": true},
			podServed:  map[string]bool{"n1/a": true, "n1/b": true, "n2/a": true, "n2/b": true},
			nodes:      2, ctrs: 6,
		},
		{
			name:       "delete node",
			ops:        []op{{deleteNode: "n1"}},
			nodeServed: map[string]bool{"n1": false, "n2": true},
			podServed:  map[string]bool{"n1/a": false, "n1/b": false, "n2/a": true, "n2/b": true},
			nodes:      1, ctrs: 3,
		},
		{
			name:       "delete unknown node",
			ops:        []op{{deleteNode: "n9"}},
			nodeServed: map[string]bool{"n1": true, "n2": true},
			podServed:  map[string]bool{"n1/a": true, "n2/a": true},
			nodes:      2, ctrs: 6,
		},
		{
			name:       "deleted node comes back fresh",
			ops:        []op{{deleteNode: "n1"}, {store: twoPods(2, true, false).batch("n1")}},
			nodeServed: map[string]bool{"n1": false, "n2": true},
			podServed:  map[string]bool{"n1/a": false, "n2/a": true},
			nodes:      2, ctrs: 6,
		},
		{
			name:       "forget pod",
			ops:        []op{{forgetPod: [3]string{"n1", "ns", "a"}}},
			nodeServed: map[string]bool{"n1": true},
			podServed:  map[string]bool{"n1/a": false, "n1/b": true, "n2/a": true},
			nodes:      2, ctrs: 4,
		},
		{
			name:       "forget pod on the wrong node",
			ops:        []op{{forgetPod: [3]string{"n1", "ns", "c"}}, {forgetPod: [3]string{"n9", "ns", "a"}}, {forgetPod: [3]string{"n1", "other", "a"}}},
			nodeServed: map[string]bool{"n1": true},
			podServed:  map[string]bool{"n1/a": true, "n1/b": true},
			nodes:      2, ctrs: 6,
		},
		{
			name: "forgotten pod reported again starts afresh",
			ops: []op{{forgetPod: [3]string{"n1", "ns", "b"}}, {store: twoPods(2, true, false).batch("n1")},
				{forgetPod: [3]string{"n1", "ns", "a"}}},
			podServed: map[string]bool{"n1/a": false, "n1/b": false},
			nodes:     2, ctrs: 4,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newTestStore(Options{})
			for _, o := range append(append([]op{}, setup...), tc.ops...) {
				switch {
				case o.store != nil:
					c.Set(o.store.ScrapedAt)
					s.StoreNode(o.store)
				case o.deleteNode != "":
					s.DeleteNode(o.deleteNode)
				default:
					s.ForgetPod(o.forgetPod[0], o.forgetPod[1], o.forgetPod[2])
				}
			}
			for node, want := range tc.nodeServed {
				if _, ok := s.NodeMetrics(node); ok != want {
					t.Errorf("NodeMetrics(%s) ok = %v, want %v", node, ok, want)
				}
			}
			for key, want := range tc.podServed {
				node, pod, _ := strings.Cut(key, "/")
				if _, ok := s.PodMetrics(node, "ns", pod); ok != want {
					t.Errorf("PodMetrics(%s, ns, %s) ok = %v, want %v", node, pod, ok, want)
				}
			}
			if nodes, ctrs := s.Series(); nodes != tc.nodes || ctrs != tc.ctrs {
				t.Errorf("Series() = %d, %d; want %d, %d", nodes, ctrs, tc.nodes, tc.ctrs)
			}
		})
	}
}

func TestReady(t *testing.T) {
	nodeOnly := func(i int) *NodeBatch {
		return &NodeBatch{Node: "n1", ScrapedAt: t0 + int64(i)*15*sec, NodePoint: steady(i)}
	}
	podsOnly := func(i int) *NodeBatch {
		b := twoPods(i, true, false).batch("n2")
		b.NodePoint = Point{}
		return b
	}
	tests := []struct {
		name    string
		batches []*NodeBatch
		want    bool
	}{
		{name: "empty store"},
		{name: "one scrape: no rates", batches: []*NodeBatch{twoPods(0, true, false).batch("n1")}},
		{name: "node and pods", batches: []*NodeBatch{twoPods(0, true, false).batch("n1"), twoPods(1, true, false).batch("n1")}, want: true},
		{name: "node without pods", batches: []*NodeBatch{nodeOnly(0), nodeOnly(1)}},
		{name: "pods without node", batches: []*NodeBatch{podsOnly(0), podsOnly(1)}},
		{name: "node and pods on different nodes", batches: []*NodeBatch{nodeOnly(0), podsOnly(0), nodeOnly(1), podsOnly(1)}, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newTestStore(Options{})
			for _, b := range tc.batches {
				c.Set(b.ScrapedAt)
				s.StoreNode(b)
			}
			if got := s.Ready(); got != tc.want {
				t.Errorf("Ready() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPodsAndContainersSorted(t *testing.T) {
	// The kubelet's order is arbitrary; lookups and container order must not depend on it.
	names := []struct{ ns, pod, c string }{
		{"kube-system", "coredns", "coredns"}, {"default", "web", "nginx"}, {"default", "web", "log-shipper"},
		{"default", "api", "envoy"}, {"default", "api", "api"}, {"a", "web", "z"},
	}
	batch := func(i int) *NodeBatch {
		b := &NodeBatch{Node: "n1", ScrapedAt: t0 + int64(i)*15*sec}
		for _, n := range names {
			b.Containers = append(b.Containers, ctr(n.ns, n.pod, n.c, steady(i)))
		}
		return b
	}
	s, c := newTestStore(Options{})
	for i := range 2 {
		c.Set(t0 + int64(i)*15*sec)
		s.StoreNode(batch(i))
	}
	want := map[[2]string][]string{
		{"kube-system", "coredns"}: {"coredns"},
		{"default", "web"}:         {"log-shipper", "nginx"},
		{"default", "api"}:         {"api", "envoy"},
		{"a", "web"}:               {"z"},
	}
	for key, ctrs := range want {
		got, ok := s.PodMetrics("n1", key[0], key[1])
		if !ok {
			t.Errorf("pod %v not served", key)
			continue
		}
		var gotNames []string
		for _, c := range got.Containers {
			gotNames = append(gotNames, c.Name)
		}
		if fmt.Sprint(gotNames) != fmt.Sprint(ctrs) {
			t.Errorf("pod %v containers = %v, want %v", key, gotNames, ctrs)
		}
	}
	if _, ok := s.PodMetrics("n1", "default", "coredns"); ok {
		t.Error("pod default/coredns served, it does not exist")
	}
	if _, ok := s.PodMetrics("n2", "default", "web"); ok {
		t.Error("pod served from the wrong node")
	}
}

func TestRate(t *testing.T) {
	tests := []struct {
		dcpu uint64
		dt   int64
		want uint64
		ok   bool
	}{
		{dcpu: 3750 * uint64(time.Millisecond), dt: 15 * sec, want: 250_000_000, ok: true},
		{dcpu: 0, dt: sec, want: 0, ok: true},
		{dcpu: 1, dt: 0},
		{dcpu: 1, dt: -sec},
		{dcpu: math.MaxUint64, dt: sec}, // overflows 64 bits
		{dcpu: MaxPlausibleCores * core, dt: sec, want: MaxPlausibleCores * 1e9, ok: true}, // at the limit
		{dcpu: MaxPlausibleCores*core + 1, dt: sec},                                        // above it
		{dcpu: 1 << 62, dt: 1 << 62, want: 1e9, ok: true},                                  // large but exact
	}
	for _, tc := range tests {
		got, ok := rate(tc.dcpu, tc.dt)
		if got != tc.want || ok != tc.ok {
			t.Errorf("rate(%d, %d) = %d, %v; want %d, %v", tc.dcpu, tc.dt, got, ok, tc.want, tc.ok)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	tests := []struct {
		in        Options
		ring      int
		staleness time.Duration
		window    time.Duration
	}{
		{in: Options{}, ring: DefaultRingSize, staleness: DefaultMaxStaleness},
		{in: Options{RingSize: 1, MaxStaleness: -1, CPUWindow: -time.Second}, ring: MinRingSize, staleness: DefaultMaxStaleness},
		{in: Options{RingSize: 1000, MaxStaleness: time.Minute, CPUWindow: time.Minute}, ring: MaxRingSize, staleness: time.Minute, window: time.Minute},
	}
	for _, tc := range tests {
		s := NewStore(tc.in)
		if s.ringSize != tc.ring || time.Duration(s.staleness) != tc.staleness || time.Duration(s.cpuWindow) != tc.window || s.now == nil {
			t.Errorf("NewStore(%+v) = ring %d staleness %v window %v; want %d %v %v",
				tc.in, s.ringSize, time.Duration(s.staleness), time.Duration(s.cpuWindow), tc.ring, tc.staleness, tc.window)
		}
	}
}

func TestInvalidBatches(t *testing.T) {
	s, _ := newTestStore(Options{})
	s.StoreNode(nil)
	s.StoreNode(&NodeBatch{})
	if nodes, ctrs := s.Series(); nodes != 0 || ctrs != 0 {
		t.Errorf("Series() = %d, %d after invalid batches; want 0, 0", nodes, ctrs)
	}
	if _, ok := s.NodeMetrics(""); ok {
		t.Error("NodeMetrics(\"\") served")
	}
}

// TestConcurrent stores and reads at the same time; run with -race.
func TestConcurrent(t *testing.T) {
	const nodes, rounds = 8, 40
	s, c := newTestStore(Options{})
	c.Set(t0 + time.Hour.Nanoseconds()) // every scrape below is within the grace at read time
	deadline := time.Now().Add(10 * time.Second)
	var writers, readers sync.WaitGroup
	var stop atomic.Bool
	for n := range nodes {
		writers.Go(func() {
			name := fmt.Sprintf("node-%d", n)
			b := &NodeBatch{}
			for i := 0; i < rounds && time.Now().Before(deadline); i++ {
				b.Reset(name)
				b.ScrapedAt = t0 + time.Hour.Nanoseconds()
				b.NodePoint = steady(i)
				for p := range 5 {
					if p == 4 && i%3 == 0 {
						continue // churn: pod 4 comes and goes
					}
					b.Containers = append(b.Containers, ctr("ns", fmt.Sprintf("pod-%d", p), "c", steady(i)))
				}
				s.StoreNode(b)
				if i%10 == 9 {
					s.ForgetPod(name, "ns", "pod-0")
				}
				runtime.Gosched()
			}
		})
	}
	writers.Go(func() { s.DeleteNode("node-0") })
	var reads atomic.Int64
	for range 2 {
		readers.Go(func() {
			// Read until the writers are done (bounded in count and time).
			for i := 0; i < 100_000 && !stop.Load() && time.Now().Before(deadline); i++ {
				name := fmt.Sprintf("node-%d", i%nodes)
				if m, ok := s.NodeMetrics(name); ok {
					if cpu := m.Usage.Cpu().ScaledValue(resource.Nano); cpu != 250_000_000 {
						t.Errorf("node cpu = %d, want 250000000", cpu)
					}
					reads.Add(1)
				}
				if m, ok := s.PodMetrics(name, "ns", fmt.Sprintf("pod-%d", i%5)); ok {
					checkConcurrentPod(t, m)
					reads.Add(1)
				}
				s.Ready()
				s.Series()
			}
		})
	}
	writers.Wait()
	stop.Store(true)
	readers.Wait()
	if n, _ := s.Series(); n < nodes-1 || n > nodes {
		t.Errorf("Series() nodes = %d, want %d or %d", n, nodes-1, nodes)
	}
	if !s.Ready() {
		t.Error("Ready() = false after concurrent stores")
	}
	t.Logf("%d successful reads", reads.Load())
}

func checkConcurrentPod(t *testing.T, m metrics.PodMetrics) {
	if len(m.Containers) != 1 || m.Containers[0].Name != "c" {
		t.Errorf("pod containers = %+v", m.Containers)
		return
	}
	if cpu := m.Containers[0].Usage.Cpu().ScaledValue(resource.Nano); cpu != 250_000_000 {
		t.Errorf("pod cpu = %d, want 250000000", cpu)
	}
	if m.Window.Duration != 15*time.Second {
		t.Errorf("pod window = %v, want 15s", m.Window.Duration)
	}
}

// TestUsageHoldsItsText checks that served quantities carry their canonical
// text, so that serializers, which work on copies of a ResourceList's values,
// neither canonicalize nor allocate it again (protobuf asks twice: Size, then
// Marshal).
func TestUsageHoldsItsText(t *testing.T) {
	s, c := newTestStore(Options{})
	for i := range 2 {
		c.Set(t0 + int64(i)*15*sec)
		s.StoreNode(&NodeBatch{Node: "n1", ScrapedAt: t0 + int64(i)*15*sec, NodePoint: steady(i),
			Containers: []ContainerPoint{ctr("default", "web", "nginx", steady(i))}})
	}
	node, ok := s.NodeMetrics("n1")
	if !ok {
		t.Fatal("node not served")
	}
	pod, ok := s.PodMetrics("n1", "default", "web")
	if !ok {
		t.Fatal("pod not served")
	}
	for name, usage := range map[string]corev1.ResourceList{"node": node.Usage, "container": pod.Containers[0].Usage} {
		if len(usage) != 2 {
			t.Fatalf("%s usage = %v, want cpu and memory", name, usage)
		}
		allocs := testing.AllocsPerRun(10, func() {
			for _, q := range usage {
				_ = q.Size() // protobuf's size of the quantity: the length of its text
			}
		})
		if allocs != 0 {
			t.Errorf("%s usage: %v allocations to size its quantities, want 0", name, allocs)
		}
	}
}

// TestAppendPodUsage: a pod's usage is appended after what out holds and
// matches PodMetrics; a pod with nothing to serve leaves out as it was.
func TestAppendPodUsage(t *testing.T) {
	s, c := newTestStore(Options{})
	for i := range 2 {
		c.Set(t0 + int64(i)*15*sec)
		ctrs := []ContainerPoint{ctr("default", "web", "nginx", steady(i)), ctr("default", "web", "envoy", steady(i))}
		if i == 1 { // one sample: no CPU rate yet
			ctrs = append(ctrs, ctr("default", "young", "app", steady(i)))
		}
		s.StoreNode(&NodeBatch{Node: "n1", ScrapedAt: t0 + int64(i)*15*sec, NodePoint: steady(i), Containers: ctrs})
	}
	prior := []ContainerUsage{{Name: "before"}}
	got, ts, window, ok := s.AppendPodUsage("n1", "default", "web", prior)
	if !ok || len(got) != 3 || got[0] != prior[0] {
		t.Fatalf("AppendPodUsage = %+v, %v; want the prior entry and two containers", got, ok)
	}
	want, _ := s.PodMetrics("n1", "default", "web")
	if !ts.Equal(want.Timestamp.Time) || window != want.Window.Duration {
		t.Errorf("timestamp %v window %v; PodMetrics has %v %v", ts, window, want.Timestamp, want.Window)
	}
	for i, u := range got[1:] {
		m := want.Containers[i]
		if u.Name != m.Name || int64(u.NanoCores) != m.Usage.Cpu().ScaledValue(resource.Nano) || int64(u.Bytes) != m.Usage.Memory().Value() {
			t.Errorf("container %d: %+v; PodMetrics has %s %v", i, u, m.Name, m.Usage)
		}
	}
	for _, missing := range [][3]string{{"n1", "default", "young"}, {"n1", "default", "nope"}, {"n2", "default", "web"}} {
		out, _, _, ok := s.AppendPodUsage(missing[0], missing[1], missing[2], got)
		if ok || len(out) != len(got) {
			t.Errorf("AppendPodUsage(%v) = %d entries, %v; want %d, false", missing, len(out), ok, len(got))
		}
	}
}
