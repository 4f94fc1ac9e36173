/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package kubelet

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

// received is the receivedAt used by the tests.
var received = time.Unix(1752574830, 123456789)

const recNs = 1752574830123456789

func ms(v int64) int64 { return v * 1_000_000 }

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode(t *testing.T, body string) (storage.NodeBatch, *Decoder) {
	t.Helper()
	d := NewDecoder()
	var b storage.NodeBatch
	b.Reset("worker-1")
	if err := d.Decode([]byte(body), received, &b); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return b, d
}

func cp(namespace, pod, container string, p storage.Point) storage.ContainerPoint {
	return storage.ContainerPoint{Namespace: namespace, Pod: pod, Container: container, Point: p}
}

const all = storage.HasCPU | storage.HasMemory | storage.HasSwap

func diffBatch(t *testing.T, got, want storage.NodeBatch) {
	t.Helper()
	if got.Node != want.Node || got.ScrapedAt != want.ScrapedAt || got.NodePoint != want.NodePoint ||
		got.KubeletScrapeError != want.KubeletScrapeError {
		t.Errorf("batch header:\n got  node=%q at=%d %+v err=%v\n want node=%q at=%d %+v err=%v",
			got.Node, got.ScrapedAt, got.NodePoint, got.KubeletScrapeError,
			want.Node, want.ScrapedAt, want.NodePoint, want.KubeletScrapeError)
	}
	if len(got.Containers) != len(want.Containers) {
		t.Errorf("got %d containers, want %d:\n got  %+v\n want %+v", len(got.Containers), len(want.Containers), got.Containers, want.Containers)
		return
	}
	for i := range want.Containers {
		if !reflect.DeepEqual(got.Containers[i], want.Containers[i]) {
			t.Errorf("container %d:\n got  %+v\n want %+v", i, got.Containers[i], want.Containers[i])
		}
	}
}

func TestDecodeFixture1(t *testing.T) {
	d := NewDecoder()
	var b storage.NodeBatch
	b.Reset("worker-1")
	if err := d.Decode(readFixture(t, "metrics_resource_1.txt"), received, &b); err != nil {
		t.Fatal(err)
	}
	const (
		api = "api-5f8b9c7d64-q2wmz"
		web = "web-6d4cf56db6-4x7kq"
	)
	want := storage.NodeBatch{
		Node:      "worker-1",
		ScrapedAt: recNs,
		NodePoint: storage.Point{Timestamp: ms(1752574828350), CPUNanoSeconds: 184273901234000, WorkingSetBytes: 2233147392, Valid: all},
		Containers: []storage.ContainerPoint{
			cp("default", api, "api", storage.Point{Timestamp: ms(1752574828796), CPUNanoSeconds: 734215990000, WorkingSetBytes: 183390208, StartTime: 1752571214774022300, Valid: all}),
			cp("kube-system", "coredns-76f75df574-9h2qk", "coredns", storage.Point{Timestamp: ms(1752574829265), CPUNanoSeconds: 1043879312000, WorkingSetBytes: 18472960, StartTime: 1752395531920434000, Valid: all}),
			cp("default", api, "envoy", storage.Point{Timestamp: ms(1752574828789), CPUNanoSeconds: 95122871000, WorkingSetBytes: 47198208, StartTime: 1752571212639109000, Valid: all}),
			cp("kube-system", "kube-proxy-7xk2p", "kube-proxy", storage.Point{Timestamp: ms(1752574827886), CPUNanoSeconds: 391502117000, WorkingSetBytes: 25333760, StartTime: 1752395513482913000, Valid: all}),
			cp("default", web, "log-shipper", storage.Point{Timestamp: ms(1752574826689), CPUNanoSeconds: 6213443000, WorkingSetBytes: 41168896, StartTime: 1752562804301957100, Valid: all}),
			cp("default", web, "nginx", storage.Point{Timestamp: ms(1752574826682), CPUNanoSeconds: 12884716000, WorkingSetBytes: 9465856, StartTime: 1752562804117420400, Valid: all}),
			cp("monitoring", "node-exporter-m8z5t", "node-exporter", storage.Point{Timestamp: ms(1752574825529), CPUNanoSeconds: 812077462000, WorkingSetBytes: 21856256, StartTime: 1752395521018274300, Valid: all}),
		},
	}
	diffBatch(t, b, want)
	// 7 containers x (cpu, memory, swap, start) + 3 node families + resource_scrape_error.
	if got, want := d.AcceptedSamples(), 7*4+3+1; got != want {
		t.Errorf("AcceptedSamples = %d, want %d", got, want)
	}
	if d.RejectedSamples() != 0 {
		t.Errorf("RejectedSamples = %d, want 0", d.RejectedSamples())
	}
}

func TestDecodeFixture2InternsAcrossScrapes(t *testing.T) {
	d := NewDecoder()
	var b1, b2 storage.NodeBatch
	b1.Reset("worker-1")
	b2.Reset("worker-1")
	if err := d.Decode(readFixture(t, "metrics_resource_1.txt"), received, &b1); err != nil {
		t.Fatal(err)
	}
	if err := d.Decode(readFixture(t, "metrics_resource_2.txt"), received.Add(15*time.Second), &b2); err != nil {
		t.Fatal(err)
	}
	if len(b2.Containers) != 7 {
		t.Fatalf("got %d containers, want 7", len(b2.Containers))
	}
	if got, want := b2.NodePoint, (storage.Point{Timestamp: ms(1752574843350), CPUNanoSeconds: 184280081234000, WorkingSetBytes: 2234609664, Valid: all}); got != want {
		t.Errorf("node point = %+v, want %+v", got, want)
	}
	checks := map[string]storage.Point{
		"api":   {Timestamp: ms(1752574843796), CPUNanoSeconds: 737946490000, WorkingSetBytes: 183398400, StartTime: 1752571214774022300, Valid: all},
		"envoy": {Timestamp: ms(1752574843789), CPUNanoSeconds: 95601371000, WorkingSetBytes: 47206400, StartTime: 1752571212639109000, Valid: all},
		"nginx": {Timestamp: ms(1752574841682), CPUNanoSeconds: 13112716000, WorkingSetBytes: 9474048, StartTime: 1752562804117420400, Valid: all},
	}
	for i, c := range b2.Containers {
		if want, ok := checks[c.Container]; ok {
			if c.Point != want {
				t.Errorf("%s: got %+v, want %+v", c.Container, c.Point, want)
			}
			delete(checks, c.Container)
		}
		// Same names, same memory: the second scrape reuses the first one's strings.
		p := b1.Containers[i]
		if c.Container != p.Container || c.Pod != p.Pod || c.Namespace != p.Namespace {
			t.Fatalf("container %d: %s/%s/%s after %s/%s/%s", i, c.Namespace, c.Pod, c.Container, p.Namespace, p.Pod, p.Container)
		}
		if unsafe.StringData(c.Pod) != unsafe.StringData(p.Pod) || unsafe.StringData(c.Container) != unsafe.StringData(p.Container) ||
			unsafe.StringData(c.Namespace) != unsafe.StringData(p.Namespace) {
			t.Errorf("container %d: names not interned across scrapes", i)
		}
	}
	if len(checks) != 0 {
		t.Errorf("containers not found: %v", checks)
	}
}

func TestDecodeDoesNotRetainBody(t *testing.T) {
	body := readFixture(t, "metrics_resource_1.txt")
	d := NewDecoder()
	var b storage.NodeBatch
	if err := d.Decode(body, received, &b); err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'x'
	}
	if c := b.Containers[0]; c.Namespace != "default" || c.Pod != "api-5f8b9c7d64-q2wmz" || c.Container != "api" {
		t.Errorf("names changed with the body: %+v", c)
	}
}

// Some lines used by the quirk tables.
const (
	helpCPU = "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds\n" +
		"# TYPE container_cpu_usage_seconds_total counter\n"
	lbl = `{container="c",namespace="ns",pod="p"}`
)

// quirks are payloads real kubelets and simulators send, with what Decode makes of them.
var quirks = []struct {
	name         string
	body         string
	node         storage.Point
	containers   []storage.ContainerPoint
	scrapeError  bool
	wantRejected int
}{
	{
		name: "no timestamps",
		body: helpCPU +
			"container_cpu_usage_seconds_total" + lbl + " 1.5\n" +
			"container_memory_working_set_bytes" + lbl + " 1024\n" +
			"container_swap_usage_bytes" + lbl + " 0\n" +
			"container_start_time_seconds" + lbl + " 1.7e+09\n" +
			"node_cpu_usage_seconds_total 10\n" +
			"node_memory_working_set_bytes 2048\n",
		node:       storage.Point{Timestamp: recNs, CPUNanoSeconds: 10e9, WorkingSetBytes: 2048, Valid: storage.HasCPU | storage.HasMemory},
		containers: []storage.ContainerPoint{pt(storage.Point{Timestamp: recNs, CPUNanoSeconds: 1.5e9, WorkingSetBytes: 1024, StartTime: 1.7e18, Valid: all})},
	},
	{
		name: "first scrape with all CPU counters at 0",
		body: "container_cpu_usage_seconds_total" + lbl + " 0 1000\n" +
			`container_cpu_usage_seconds_total{container="d",namespace="ns",pod="p"} 0 1000` + "\n" +
			"node_cpu_usage_seconds_total 0 1000\n",
		node: storage.Point{Timestamp: ms(1000), Valid: storage.HasCPU},
		containers: []storage.ContainerPoint{
			pt(storage.Point{Timestamp: ms(1000), Valid: storage.HasCPU}),
			cp("ns", "p", "d", storage.Point{Timestamp: ms(1000), Valid: storage.HasCPU}),
		},
	},
	{
		name: "start time missing",
		body: "container_cpu_usage_seconds_total" + lbl + " 2 1000\n" +
			"container_memory_working_set_bytes" + lbl + " 3 1000\n",
		containers: []storage.ContainerPoint{pt(storage.Point{Timestamp: ms(1000), CPUNanoSeconds: 2e9, WorkingSetBytes: 3, Valid: storage.HasCPU | storage.HasMemory})},
	},
	{
		name:       "only a start time",
		body:       "container_start_time_seconds" + lbl + " 100\n",
		containers: []storage.ContainerPoint{pt(storage.Point{Timestamp: recNs, StartTime: 100e9})},
	},
	{
		name: "escaped HELP text",
		body: `# HELP container_cpu_usage_seconds_total Cumulative \\ cpu\ntime "quoted" {x="y"} 1 2 3` + "\n" +
			"# TYPE container_cpu_usage_seconds_total counter\n" +
			`# HELP node_cpu_usage_seconds_total` + "\n" +
			"container_cpu_usage_seconds_total" + lbl + " 1 1000\n",
		containers: []storage.ContainerPoint{pt(storage.Point{Timestamp: ms(1000), CPUNanoSeconds: 1e9, Valid: storage.HasCPU})},
	},
	{
		name: "escaped label values",
		body: `container_cpu_usage_seconds_total{container="a\"b",namespace="n\\s",pod="p\nq"} 1 1000` + "\n" +
			`container_memory_working_set_bytes{container="a\"b",namespace="n\\s",pod="p\nq"} 5 1000` + "\n" +
			`container_memory_working_set_bytes{container="a\\\"b",namespace="n\\s",pod="p\nq"} 6 1000` + "\n",
		containers: []storage.ContainerPoint{
			cp(`n\s`, "p\nq", `a"b`, storage.Point{Timestamp: ms(1000), CPUNanoSeconds: 1e9, WorkingSetBytes: 5, Valid: storage.HasCPU | storage.HasMemory}),
			cp(`n\s`, "p\nq", `a\"b`, storage.Point{Timestamp: ms(1000), WorkingSetBytes: 6, Valid: storage.HasMemory}),
		},
	},
	{
		name: "families reordered and interleaved",
		body: "resource_scrape_error 0\n" +
			"node_swap_usage_bytes 7 3000\n" +
			"container_swap_usage_bytes" + lbl + " 9 1000\n" +
			"pod_cpu_usage_seconds_total{namespace=\"ns\",pod=\"p\"} 4 1000\n" +
			"container_start_time_seconds" + lbl + " 50\n" +
			"node_memory_working_set_bytes 8 2000\n" +
			"container_memory_working_set_bytes" + lbl + " 8 1000\n" +
			"node_cpu_usage_seconds_total 6 1000\n" +
			"container_cpu_usage_seconds_total" + lbl + " 3 1000\n",
		// The node takes its CPU sample's timestamp although it came last.
		node:       storage.Point{Timestamp: ms(1000), CPUNanoSeconds: 6e9, WorkingSetBytes: 8, SwapBytes: 7, Valid: all},
		containers: []storage.ContainerPoint{pt(storage.Point{Timestamp: ms(1000), CPUNanoSeconds: 3e9, WorkingSetBytes: 8, SwapBytes: 9, StartTime: 50e9, Valid: all})},
	},
	{
		// Later families are matched to the container expected next; these
		// orders miss that guess and must land on the right containers.
		name: "later families in another order, skipping and adding containers",
		body: `container_cpu_usage_seconds_total{container="a",namespace="ns",pod="p"} 1 1000` + "\n" +
			`container_cpu_usage_seconds_total{container="b",namespace="ns",pod="p"} 2 1000` + "\n" +
			`container_cpu_usage_seconds_total{container="c",namespace="ns",pod="p"} 3 1000` + "\n" +
			`container_memory_working_set_bytes{container="c",namespace="ns",pod="p"} 30 1000` + "\n" +
			`container_memory_working_set_bytes{container="a",namespace="ns",pod="p"} 10 1000` + "\n" +
			`container_memory_working_set_bytes{container="b",namespace="ns",pod="p"} 20 1000` + "\n" +
			`container_swap_usage_bytes{container="b",namespace="ns",pod="p"} 200 1000` + "\n" +
			`container_swap_usage_bytes{container="d",namespace="ns",pod="p"} 400 1000` + "\n" +
			`container_swap_usage_bytes{container="c",namespace="ns",pod="p"} 300 1000` + "\n" +
			`container_start_time_seconds{container="a",namespace="ns",pod="q"} 5` + "\n",
		containers: []storage.ContainerPoint{
			cp("ns", "p", "a", storage.Point{Timestamp: ms(1000), CPUNanoSeconds: 1e9, WorkingSetBytes: 10, Valid: storage.HasCPU | storage.HasMemory}),
			cp("ns", "p", "b", storage.Point{Timestamp: ms(1000), CPUNanoSeconds: 2e9, WorkingSetBytes: 20, SwapBytes: 200, Valid: all}),
			cp("ns", "p", "c", storage.Point{Timestamp: ms(1000), CPUNanoSeconds: 3e9, WorkingSetBytes: 30, SwapBytes: 300, Valid: all}),
			cp("ns", "p", "d", storage.Point{Timestamp: ms(1000), SwapBytes: 400, Valid: storage.HasSwap}),
			cp("ns", "q", "a", storage.Point{Timestamp: recNs, StartTime: 5e9}),
		},
	},
	{
		// A later family's line is compared byte for byte with the label set
		// of the line that added the container expected next; the same
		// container written otherwise (label order, another label, a
		// blank) must still land on it, and a pod whose name extends the
		// expected one's (p2) must not be taken for it.
		name: "later families name the expected container with other bytes",
		body: `container_cpu_usage_seconds_total{container="a",namespace="ns",pod="p"} 1 1000` + "\n" +
			`container_cpu_usage_seconds_total{container="b",namespace="ns",pod="p"} 2 1000` + "\n" +
			`container_memory_working_set_bytes{pod="p",container="a",namespace="ns"} 10 1000` + "\n" +
			`container_memory_working_set_bytes{container="b",namespace="ns",pod="p",id="x"} 20 1000` + "\n" +
			`container_swap_usage_bytes{container="a", namespace="ns",pod="p"} 100 1000` + "\n" +
			`container_swap_usage_bytes{container="b",namespace="ns",pod="p"}  200 1000` + "\n" +
			`container_start_time_seconds{container="a",namespace="ns",pod="p"} 5` + "\n" +
			`container_start_time_seconds{container="b",namespace="ns",pod="p2"} 6` + "\n",
		containers: []storage.ContainerPoint{
			cp("ns", "p", "a", storage.Point{Timestamp: ms(1000), CPUNanoSeconds: 1e9, WorkingSetBytes: 10, SwapBytes: 100, StartTime: 5e9, Valid: all}),
			cp("ns", "p", "b", storage.Point{Timestamp: ms(1000), CPUNanoSeconds: 2e9, WorkingSetBytes: 20, SwapBytes: 200, Valid: all}),
			cp("ns", "p2", "b", storage.Point{Timestamp: recNs, StartTime: 6e9}),
		},
	},
	{
		name: "CPU timestamp wins over memory and swap",
		body: "container_swap_usage_bytes" + lbl + " 1 1000\n" +
			"container_memory_working_set_bytes" + lbl + " 1 2000\n" +
			"container_cpu_usage_seconds_total" + lbl + " 1 3000\n" +
			`container_swap_usage_bytes{container="m",namespace="ns",pod="p"} 1 1000` + "\n" +
			`container_memory_working_set_bytes{container="m",namespace="ns",pod="p"} 1 2000` + "\n" +
			`container_cpu_usage_seconds_total{container="n",namespace="ns",pod="p"} 1` + "\n" +
			`container_memory_working_set_bytes{container="n",namespace="ns",pod="p"} 1 2000` + "\n",
		containers: []storage.ContainerPoint{
			pt(storage.Point{Timestamp: ms(3000), CPUNanoSeconds: 1e9, WorkingSetBytes: 1, SwapBytes: 1, Valid: all}),
			cp("ns", "p", "m", storage.Point{Timestamp: ms(2000), WorkingSetBytes: 1, SwapBytes: 1, Valid: storage.HasMemory | storage.HasSwap}),
			// A CPU sample without a timestamp stands for receivedAt.
			cp("ns", "p", "n", storage.Point{Timestamp: recNs, CPUNanoSeconds: 1e9, WorkingSetBytes: 1, Valid: storage.HasCPU | storage.HasMemory}),
		},
	},
	{
		name: "rejected CPU leaves the memory timestamp",
		body: "container_cpu_usage_seconds_total" + lbl + " NaN 3000\n" +
			"container_memory_working_set_bytes" + lbl + " 1 2000\n",
		containers:   []storage.ContainerPoint{pt(storage.Point{Timestamp: ms(2000), WorkingSetBytes: 1, Valid: storage.HasMemory})},
		wantRejected: 1,
	},
	{
		name:        "deprecated scrape_error",
		body:        "# HELP scrape_error [ALPHA] 1 if there was an error while getting container metrics, 0 otherwise\n# TYPE scrape_error gauge\nscrape_error 1\n",
		scrapeError: true,
	},
	{
		name:        "resource_scrape_error 1",
		body:        "resource_scrape_error 1\n",
		scrapeError: true,
	},
	{
		name: "resource_scrape_error 0 and scrape_error 0",
		body: "resource_scrape_error 0\nscrape_error 0\n",
	},
	{
		name: "container_swap_limit_bytes and pod families skipped",
		body: "# HELP container_swap_limit_bytes [ALPHA] Current amount of the container swap limit in bytes.\n" +
			"# TYPE container_swap_limit_bytes gauge\n" +
			"container_swap_limit_bytes" + lbl + " 1.073741824e+09 1000\n" +
			"container_swap_usage_bytes" + lbl + " 4 1000\n" +
			`pod_memory_working_set_bytes{namespace="ns",pod="p"} 99 1000` + "\n" +
			`pod_swap_usage_bytes{namespace="ns",pod="p"} NaN 1000` + "\n" +
			"some_unknown_family_total 3\n",
		containers: []storage.ContainerPoint{pt(storage.Point{Timestamp: ms(1000), SwapBytes: 4, Valid: storage.HasSwap})},
	},
	{
		name: "CRLF line endings",
		body: "# HELP node_cpu_usage_seconds_total x\r\n# TYPE node_cpu_usage_seconds_total counter\r\n" +
			"node_cpu_usage_seconds_total 1.25 1000\r\n\r\n" +
			"container_cpu_usage_seconds_total" + lbl + " 2 1000\r\n",
		node:       storage.Point{Timestamp: ms(1000), CPUNanoSeconds: 1.25e9, Valid: storage.HasCPU},
		containers: []storage.ContainerPoint{pt(storage.Point{Timestamp: ms(1000), CPUNanoSeconds: 2e9, Valid: storage.HasCPU})},
	},
	{
		name:       "no final line break, blank lines, comments, blanks",
		body:       "\n\n# just a comment\n#\n  \t\n  container_cpu_usage_seconds_total { pod = \"p\" , namespace=\"ns\",\tcontainer=\"c\", id=\"/kubepods\", } \t 2.5 \t 1000 \t",
		containers: []storage.ContainerPoint{pt(storage.Point{Timestamp: ms(1000), CPUNanoSeconds: 2.5e9, Valid: storage.HasCPU})},
	},
	{
		name: "value forms",
		body: `container_cpu_usage_seconds_total{container="a",namespace="ns",pod="p"} 1e3` + "\n" +
			`container_cpu_usage_seconds_total{container="b",namespace="ns",pod="p"} +0.000000001` + "\n" +
			`container_cpu_usage_seconds_total{container="c",namespace="ns",pod="p"} 0x1p4` + "\n" +
			`container_cpu_usage_seconds_total{container="d",namespace="ns",pod="p"} -0` + "\n" +
			`container_cpu_usage_seconds_total{container="e",namespace="ns",pod="p"} 1234567890.1234567891` + "\n" +
			`container_cpu_usage_seconds_total{container="f",namespace="ns",pod="p"} .5E-9` + "\n" +
			`container_memory_working_set_bytes{container="f",namespace="ns",pod="p"} 2.5` + "\n" +
			`container_memory_working_set_bytes{container="g",namespace="ns",pod="p"} 1.8e19` + "\n",
		containers: []storage.ContainerPoint{
			cp("ns", "p", "a", storage.Point{Timestamp: recNs, CPUNanoSeconds: 1000e9, Valid: storage.HasCPU}),
			cp("ns", "p", "b", storage.Point{Timestamp: recNs, CPUNanoSeconds: 1, Valid: storage.HasCPU}),
			cp("ns", "p", "c", storage.Point{Timestamp: recNs, CPUNanoSeconds: 16e9, Valid: storage.HasCPU}),
			cp("ns", "p", "d", storage.Point{Timestamp: recNs, Valid: storage.HasCPU}),
			cp("ns", "p", "e", storage.Point{Timestamp: recNs, CPUNanoSeconds: 1234567890123456789, Valid: storage.HasCPU}),
			cp("ns", "p", "f", storage.Point{Timestamp: recNs, CPUNanoSeconds: 1, WorkingSetBytes: 3, Valid: storage.HasCPU | storage.HasMemory}),
			cp("ns", "p", "g", storage.Point{Timestamp: recNs, WorkingSetBytes: 18e18, Valid: storage.HasMemory}),
		},
	},
	{
		name: "labels on node families are ignored",
		body: `node_memory_working_set_bytes{instance="x"} 5 1000` + "\n",
		node: storage.Point{Timestamp: ms(1000), WorkingSetBytes: 5, Valid: storage.HasMemory},
	},
	{
		name: "empty body",
		body: "",
	},
}

func pt(p storage.Point) storage.ContainerPoint { return cp("ns", "p", "c", p) }

func TestDecodeQuirks(t *testing.T) {
	for _, tc := range quirks {
		t.Run(tc.name, func(t *testing.T) {
			b, d := decode(t, tc.body)
			diffBatch(t, b, storage.NodeBatch{
				Node: "worker-1", ScrapedAt: recNs, NodePoint: tc.node,
				Containers: tc.containers, KubeletScrapeError: tc.scrapeError,
			})
			if d.RejectedSamples() != tc.wantRejected {
				t.Errorf("RejectedSamples = %d, want %d", d.RejectedSamples(), tc.wantRejected)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	bad := []string{"NaN", "nan", "+Inf", "-Inf", "Inf", "+inf", "-1", "-0.5", "-1e-30", "1e300", "1e20"}
	families := []struct {
		name  string
		field storage.Fields
	}{
		{"container_cpu_usage_seconds_total", storage.HasCPU},
		{"container_memory_working_set_bytes", storage.HasMemory},
		{"container_swap_usage_bytes", storage.HasSwap},
		{"container_start_time_seconds", 0},
	}
	for _, v := range bad {
		for _, f := range families {
			t.Run(f.name+"="+v, func(t *testing.T) {
				// The bad sample comes with a good one of another family and container.
				body := f.name + lbl + " " + v + " 1000\n" +
					`container_memory_working_set_bytes{container="ok",namespace="ns",pod="p"} 42` + "\n"
				b, d := decode(t, body)
				if d.RejectedSamples() != 1 {
					t.Errorf("RejectedSamples = %d, want 1", d.RejectedSamples())
				}
				if len(b.Containers) != 2 {
					t.Fatalf("got %d containers, want 2", len(b.Containers))
				}
				if got := b.Containers[0].Point; got != (storage.Point{Timestamp: recNs}) {
					t.Errorf("rejected sample left %+v", got)
				}
				if got := b.Containers[1].Point; got != (storage.Point{Timestamp: recNs, WorkingSetBytes: 42, Valid: storage.HasMemory}) {
					t.Errorf("good sample: %+v", got)
				}
			})
		}
		for _, f := range []string{"node_cpu_usage_seconds_total", "node_memory_working_set_bytes", "node_swap_usage_bytes", "resource_scrape_error", "scrape_error"} {
			t.Run(f+"="+v, func(t *testing.T) {
				b, d := decode(t, f+" "+v+"\n")
				if d.RejectedSamples() != 1 || b.NodePoint != (storage.Point{}) || b.KubeletScrapeError {
					t.Errorf("rejected=%d node=%+v scrapeError=%v", d.RejectedSamples(), b.NodePoint, b.KubeletScrapeError)
				}
			})
		}
	}
	t.Run("start time beyond int64 nanoseconds", func(t *testing.T) {
		_, d := decode(t, "container_start_time_seconds"+lbl+" 9.3e9\n")
		if d.RejectedSamples() != 1 {
			t.Errorf("RejectedSamples = %d, want 1", d.RejectedSamples())
		}
	})
	t.Run("missing or empty names", func(t *testing.T) {
		b, d := decode(t, `container_cpu_usage_seconds_total{namespace="ns",pod="p"} 1`+"\n"+
			`container_cpu_usage_seconds_total{container="",namespace="ns",pod="p"} 1`+"\n"+
			`container_memory_working_set_bytes{container="c",pod="p"} 1`+"\n"+
			`container_swap_usage_bytes{container="c",namespace="ns"} 1`+"\n"+
			`container_start_time_seconds 1`+"\n")
		if d.RejectedSamples() != 5 || len(b.Containers) != 0 {
			t.Errorf("rejected=%d containers=%+v, want 5 and none", d.RejectedSamples(), b.Containers)
		}
	})
	t.Run("count resets per decode", func(t *testing.T) {
		d := NewDecoder()
		var b storage.NodeBatch
		_ = d.Decode([]byte("node_cpu_usage_seconds_total NaN\n"), received, &b)
		b.Reset("n")
		if err := d.Decode([]byte("node_cpu_usage_seconds_total 1\n"), received, &b); err != nil {
			t.Fatal(err)
		}
		if d.RejectedSamples() != 0 || d.AcceptedSamples() != 1 {
			t.Errorf("rejected=%d accepted=%d, want 0 and 1", d.RejectedSamples(), d.AcceptedSamples())
		}
	})
}

// badInputs are malformed payloads with the line and reason Decode must report.
var badInputs = []struct {
	name   string
	body   string
	line   int
	reason string
}{
	{"label value without quotes", "container_cpu_usage_seconds_total{container=api} 1\n", 1, "expected '\"'"},
	{"label without =", "node_cpu_usage_seconds_total 1\ncontainer_cpu_usage_seconds_total{container} 1\n", 2, "expected '='"},
	{"unterminated quote", "# TYPE x gauge\n\ncontainer_cpu_usage_seconds_total{container=\"api} 1\n", 3, "unterminated label value"},
	{"unterminated label set", "pod_cpu_usage_seconds_total{pod=\"a\" 1\n", 1, "expected ',' or '}'"},
	{"label set cut short", "pod_cpu_usage_seconds_total{pod=\"a\",", 1, "unterminated label set"},
	{"missing value", "node_cpu_usage_seconds_total\n", 1, "missing value"},
	{"missing value after labels", "container_cpu_usage_seconds_total" + lbl + "   \n", 1, "missing value"},
	{"unparsable number", "node_cpu_usage_seconds_total 12,5\n", 1, "invalid value"},
	{"unparsable number in a skipped family", "pod_cpu_usage_seconds_total{pod=\"a\"} one\n", 1, "invalid value"},
	{"number with two dots", "node_memory_working_set_bytes 1.2.3\n", 1, "invalid value"},
	{"garbage", "node_cpu_usage_seconds_total 1\n<html><body>Bad Gateway</body></html>\n", 2, "expected a metric name"},
	{"garbage after name", "node_cpu_usage_seconds_total! 1\n", 1, "invalid character in metric name"},
	{"invalid escape", `container_cpu_usage_seconds_total{container="a\x"} 1` + "\n", 1, "invalid escape"},
	{"invalid label name", `container_cpu_usage_seconds_total{0container="a"} 1` + "\n", 1, "invalid label name"},
	{"bad timestamp", "node_cpu_usage_seconds_total 1 12a\n", 1, "invalid timestamp"},
	{"float timestamp", "node_cpu_usage_seconds_total 1 1.5\n", 1, "invalid timestamp"},
	{"timestamp out of range", "node_cpu_usage_seconds_total 1 99999999999999999\n", 1, "timestamp out of range"},
	{"text after timestamp", "node_cpu_usage_seconds_total 1 1000 extra\n", 1, "unexpected text after timestamp"},
	{"duplicate container sample", "container_cpu_usage_seconds_total" + lbl + " 1\ncontainer_memory_working_set_bytes" + lbl + " 1\ncontainer_cpu_usage_seconds_total{pod=\"p\",namespace=\"ns\",container=\"c\",id=\"x\"} 2\n", 3, "duplicate sample of container_cpu_usage_seconds_total"},
	{"duplicate rejected sample", "container_swap_usage_bytes" + lbl + " NaN\ncontainer_swap_usage_bytes" + lbl + " 2\n", 2, "duplicate sample"},
	{"duplicate node sample", "node_memory_working_set_bytes 1\nnode_memory_working_set_bytes 1\n", 2, "duplicate sample of node_memory_working_set_bytes"},
	{"duplicate scrape error", "resource_scrape_error 0\nresource_scrape_error 0\n", 2, "duplicate sample"},
	{"duplicate label", `container_cpu_usage_seconds_total{container="a",container="b",namespace="ns",pod="p"} 1` + "\n", 1, "duplicate label container"},
	{"invalid UTF-8 in a name", "container_cpu_usage_seconds_total{container=\"\xff\",namespace=\"ns\",pod=\"p\"} 1\n", 1, "not valid UTF-8"},
	{"invalid UTF-8 in another label", "pod_cpu_usage_seconds_total{pod=\"\xc3\x28\"} 1\n", 1, "not valid UTF-8"},
	// Label sets of skipped families are checked once per distinct bytes:
	// a later family's line that differs from the earlier one is checked.
	{"invalid label in a later skipped family", "pod_cpu_usage_seconds_total{namespace=\"ns\",pod=\"p\"} 1\n" +
		"pod_memory_working_set_bytes{namespace=\"ns\",pod=\"p\"} 1\n" +
		"pod_swap_usage_bytes{namespace=\"ns\",pod=\"p\xff\"} 1\n", 3, "not valid UTF-8"},
	{"invalid value after a checked label set", "pod_cpu_usage_seconds_total{namespace=\"ns\",pod=\"p\"} 1\n" +
		"pod_memory_working_set_bytes{namespace=\"ns\",pod=\"p\"} x\n", 2, "invalid value"},
	{"invalid value after the expected container's label set", "container_cpu_usage_seconds_total{container=\"c\",namespace=\"ns\",pod=\"p\"} 1\n" +
		"container_memory_working_set_bytes{container=\"c\",namespace=\"ns\",pod=\"p\"} 1 x\n", 2, "timestamp"},
	{"TYPE without a name", "# TYPE\n", 1, "expected a metric name after # TYPE"},
	{"HELP with a bad name", "# HELP 9lives x\n", 1, "expected a metric name after # HELP"},
	{"TYPE without a type", "# TYPE node_cpu_usage_seconds_total\n", 1, "missing metric type"},
	{"TYPE with an unknown type", "# TYPE node_cpu_usage_seconds_total countr\n", 1, "unknown metric type"},
	{"TYPE with extra text", "# TYPE node_cpu_usage_seconds_total counter x\n", 1, "unexpected text after metric type"},
	{"quoted metric name", `{"node.cpu"} 1` + "\n", 1, "expected a metric name"},
	{"body cut inside a label", cutInsideLabel(), 17, "unterminated label value"},
}

// cutInsideLabel is fixture 1 cut short inside the nginx memory sample's pod label (line 17).
func cutInsideLabel() string {
	b, err := os.ReadFile("testdata/metrics_resource_1.txt")
	if err != nil {
		return "" // reported by the fixture tests
	}
	const at = `container_memory_working_set_bytes{container="nginx",namespace="default",pod="web-6d4`
	i := strings.Index(string(b), at)
	if i < 0 {
		return ""
	}
	return string(b[:i+len(at)])
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range badInputs {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder()
			// A batch holding an earlier decode: an error must leave it as it was.
			var b storage.NodeBatch
			b.Reset("worker-1")
			if err := d.Decode([]byte("container_cpu_usage_seconds_total"+lbl+" 1 1000\nnode_cpu_usage_seconds_total 2 1000\n"), received, &b); err != nil {
				t.Fatal(err)
			}
			before := b
			before.Containers = append([]storage.ContainerPoint(nil), b.Containers...)

			err := d.Decode([]byte(tc.body), received.Add(time.Hour), &b)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("got %T %v, want a *DecodeError", err, err)
			}
			if de.Line != tc.line || !strings.Contains(de.Reason, tc.reason) {
				t.Errorf("got line %d reason %q, want line %d reason containing %q", de.Line, de.Reason, tc.line, tc.reason)
			}
			lines := strings.Split(tc.body, "\n")
			if tc.line <= len(lines) {
				want := strings.ToValidUTF8(strings.TrimSuffix(lines[tc.line-1], "\r"), "\uFFFD")
				if !strings.HasPrefix(want, de.Excerpt) || len(de.Excerpt) > maxExcerpt || len(de.Excerpt) < min(len(want), maxExcerpt-3) {
					t.Errorf("excerpt %q, want the start of %q", de.Excerpt, want)
				}
			}
			if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("line %d:", tc.line)) {
				t.Errorf("message %q does not name the line", msg)
			}
			diffBatch(t, b, before)
		})
	}
}

// TestDecodeKeepsNoScratch: between decodes a Decoder holds only its name
// table; the per-decode scratch goes back to the pool empty, after a
// successful decode and after a failed one, and the next Decoder to take it
// (another node) starts from an empty index.
func TestDecodeKeepsNoScratch(t *testing.T) {
	d := NewDecoder()
	var b storage.NodeBatch
	b.Reset("worker-1")
	body := readFixture(t, "metrics_resource_1.txt")
	if err := d.Decode(body, received, &b); err != nil {
		t.Fatal(err)
	}
	if d.sc != nil {
		t.Errorf("after a decode the Decoder holds its scratch")
	}
	if d.InternedNames() == 0 {
		t.Errorf("the name table was dropped")
	}
	if err := d.Decode([]byte("container_cpu_usage_seconds_total"+lbl+" 1\nbroken line\n"), received, &b); err == nil {
		t.Fatal("bad payload decoded")
	}
	if d.sc != nil {
		t.Errorf("after a failed decode the Decoder holds its scratch")
	}
	for range 4 {
		sc := scratchPool.Get().(*decodeScratch)
		if len(sc.index) != 0 || len(sc.state) != 0 || len(sc.unquote) != 0 {
			t.Errorf("pooled scratch not empty: %d keys, %d states, %d bytes", len(sc.index), len(sc.state), len(sc.unquote))
		}
		defer scratchPool.Put(sc)
	}

	// Another node's decoder, with a container the first node also had: it
	// must not see the first node's index.
	first := b.Containers[0]
	var b2 storage.NodeBatch
	b2.Reset("worker-2")
	line := fmt.Sprintf("container_cpu_usage_seconds_total{container=%q,namespace=%q,pod=%q} 2\n", first.Container, first.Namespace, first.Pod)
	if err := NewDecoder().Decode([]byte(line), received, &b2); err != nil {
		t.Fatal(err)
	}
	if len(b2.Containers) != 1 || b2.Containers[0].CPUNanoSeconds != 2e9 {
		t.Errorf("second node decoded %+v", b2.Containers)
	}
}

func TestDecodeNilBatch(t *testing.T) {
	err := NewDecoder().Decode([]byte("node_cpu_usage_seconds_total 1\n"), received, nil)
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("got %v, want a *DecodeError", err)
	}
	// The zero Decoder works too.
	var d Decoder
	var b storage.NodeBatch
	if err := d.Decode([]byte("node_cpu_usage_seconds_total 1\n"), received, &b); err != nil || b.NodePoint.CPUNanoSeconds != 1e9 {
		t.Errorf("zero Decoder: err=%v point=%+v", err, b.NodePoint)
	}
}

func TestDecodePrunesNames(t *testing.T) {
	d := NewDecoder()
	var b storage.NodeBatch
	for i := range 200 {
		b.Reset("worker-1")
		var sb strings.Builder
		for c := range 5 {
			fmt.Fprintf(&sb, "container_cpu_usage_seconds_total{container=\"c%d\",namespace=\"ns\",pod=\"pod-%d\"} 1\n", c, i)
		}
		if err := d.Decode([]byte(sb.String()), received, &b); err != nil {
			t.Fatal(err)
		}
		// In use: ns, pod-i and c0..c4.
		if n := d.InternedNames(); n > 2*7+256+1 {
			t.Fatalf("after %d scrapes the decoder holds %d names", i+1, n)
		}
	}
	if n := d.InternedNames(); n < 7 {
		t.Errorf("holds %d names, fewer than those in use", n)
	}
	if b.Containers[0].Pod != "pod-199" {
		t.Errorf("pod %q, want pod-199", b.Containers[0].Pod)
	}
}

func TestExcerpt(t *testing.T) {
	long := strings.Repeat("é", 40) // 80 bytes
	got := excerpt([]byte(long))
	if len(got) > maxExcerpt || !strings.HasPrefix(long, got) || len(got) < maxExcerpt-1 {
		t.Errorf("excerpt %q (%d bytes)", got, len(got))
	}
	if got := excerpt([]byte("a\xffb")); got != "a\uFFFDb" {
		t.Errorf("excerpt = %q", got)
	}
}
