package kubeletsim

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 7, 15, 10, 0, 0, 0, time.UTC)

func TestCPUCounter(t *testing.T) {
	type step struct {
		at   time.Duration // since t0
		rate int64         // -1: only read
		want uint64        // counter after the step, ns
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"constant rate", []step{{0, -1, 0}, {10 * time.Second, -1, 2_500_000_000}}},
		{"piecewise", []step{
			{10 * time.Second, 500_000_000, 2_500_000_000}, // 250m for 10s
			{20 * time.Second, -1, 7_500_000_000},          // + 500m for 10s
			{20 * time.Second, 0, 7_500_000_000},
			{time.Hour, -1, 7_500_000_000}, // idle does not advance
		}},
		{"read before start stays at base", []step{{-time.Minute, -1, 0}}},
		{"rate change before start keeps base", []step{{-time.Second, 1_000_000_000, 0}, {time.Second, -1, 1_000_000_000}}},
		{"huge rate and span do not overflow", []step{{0, 1 << 40, 0}, {100 * 24 * time.Hour, -1, (1 << 40) * 8640000}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cpuCounter{since: t0.UnixNano(), rate: 250_000_000}
			for i, s := range tt.steps {
				at := t0.Add(s.at).UnixNano()
				if s.rate >= 0 {
					c.setRate(at, s.rate)
				}
				if got := c.at(at); got != s.want {
					t.Fatalf("step %d: counter = %d, want %d", i, got, s.want)
				}
			}
		})
	}
}

func podOf(ns, name string, start time.Time, containers ...ContainerUsage) PodUsage {
	return PodUsage{Namespace: ns, Name: name, StartTime: start, Containers: containers}
}

func cu(name string, start time.Time, milli int64, mem int64) ContainerUsage {
	return ContainerUsage{Name: name, StartTime: start, Usage: Usage{NanoCores: milli * 1e6, MemoryBytes: mem}}
}

func renderParse(t *testing.T, n *NodeMetrics, now time.Time) []family {
	t.Helper()
	out := n.AppendText(nil, now)
	fams, err := parseText(out)
	if err != nil {
		t.Fatalf("payload does not parse: %v\n%s", err, out)
	}
	return fams
}

func value(t *testing.T, fams []family, name string, labels ...string) float64 {
	t.Helper()
	s, ok := find(fams, name, labels...)
	if !ok {
		t.Fatalf("no sample %s%v", name, labels)
	}
	return s.value
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestNodeMetricsLifecycle walks one pod through usage changes, a restart
// and deletion, checking every counter at each step.
func TestNodeMetricsLifecycle(t *testing.T) {
	overhead := Usage{NanoCores: 100e6, MemoryBytes: 100 << 20}
	n := NewNodeMetrics(t0, overhead)
	start := t0.Add(-30 * time.Second) // backdated pod
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	n.SetPod(podOf("ns", "p", start, cu("app", start, 250, 64<<20), cu("side", start, 50, 8<<20)), at(0))
	type check struct {
		at                 time.Duration
		app, side, pod     float64 // cpu seconds
		node               float64
		appStart           time.Time
		appMem, podMem     float64
		nodeMem            float64
		containers, podsIn int
	}
	verify := func(c check) {
		t.Helper()
		fams := renderParse(t, n, at(c.at))
		if got := value(t, fams, nameContainerCPU, "app", "ns", "p"); !near(got, c.app) {
			t.Errorf("at %v: app cpu = %v, want %v", c.at, got, c.app)
		}
		if got := value(t, fams, nameContainerCPU, "side", "ns", "p"); !near(got, c.side) {
			t.Errorf("at %v: side cpu = %v, want %v", c.at, got, c.side)
		}
		if got := value(t, fams, namePodCPU, "ns", "p"); !near(got, c.pod) {
			t.Errorf("at %v: pod cpu = %v, want %v", c.at, got, c.pod)
		}
		if got := value(t, fams, nameNodeCPU); !near(got, c.node) {
			t.Errorf("at %v: node cpu = %v, want %v", c.at, got, c.node)
		}
		if got := value(t, fams, nameContainerStart, "app", "ns", "p"); !near(got, float64(c.appStart.UnixNano())/1e9) {
			t.Errorf("at %v: app start = %v, want %v", c.at, got, c.appStart)
		}
		if got := value(t, fams, nameContainerMemory, "app", "ns", "p"); got != c.appMem {
			t.Errorf("at %v: app memory = %v, want %v", c.at, got, c.appMem)
		}
		if got := value(t, fams, namePodMemory, "ns", "p"); got != c.podMem {
			t.Errorf("at %v: pod memory = %v, want %v", c.at, got, c.podMem)
		}
		if got := value(t, fams, nameNodeMemory); got != c.nodeMem {
			t.Errorf("at %v: node memory = %v, want %v", c.at, got, c.nodeMem)
		}
		s, _ := find(fams, nameContainerCPU, "app", "ns", "p")
		if s.ts != at(c.at).UnixMilli() {
			t.Errorf("at %v: timestamp %d, want %d", c.at, s.ts, at(c.at).UnixMilli())
		}
	}
	// 30 s of backdated usage, then 10 s more; the node counts its overhead
	// since t0 and the pod since it was set.
	verify(check{at: 10 * time.Second, app: 40 * 0.25, side: 40 * 0.05, pod: 40 * 0.3,
		node: 10*0.1 + 10*0.3, appStart: start, appMem: 64 << 20, podMem: 72 << 20, nodeMem: 172 << 20})

	// Annotation change at 10 s: app to 1 core, memory to 128Mi.
	n.SetPod(podOf("ns", "p", start, cu("app", start, 1000, 128<<20), cu("side", start, 50, 8<<20)), at(10*time.Second))
	verify(check{at: 20 * time.Second, app: 40*0.25 + 10, side: 50 * 0.05, pod: 40*0.3 + 10*1.05,
		node: 20*0.1 + 10*0.3 + 10*1.05, appStart: start, appMem: 128 << 20, podMem: 136 << 20, nodeMem: 236 << 20})

	// Restart at 20 s: container counters from 0, pod and node continue.
	restart := at(20 * time.Second)
	n.SetPod(podOf("ns", "p", start, cu("app", restart, 1000, 128<<20), cu("side", restart, 50, 8<<20)), restart)
	verify(check{at: 30 * time.Second, app: 10, side: 10 * 0.05, pod: 40*0.3 + 20*1.05,
		node: 30*0.1 + 10*0.3 + 20*1.05, appStart: restart, appMem: 128 << 20, podMem: 136 << 20, nodeMem: 236 << 20})

	// Deletion at 30 s: the node keeps what the pod used and goes back to
	// its overhead.
	if !n.DeletePod("ns", "p", at(30*time.Second)) {
		t.Fatal("DeletePod did not find the pod")
	}
	if n.DeletePod("ns", "p", at(30*time.Second)) {
		t.Fatal("DeletePod found the pod twice")
	}
	fams := renderParse(t, n, at(40*time.Second))
	if got, want := value(t, fams, nameNodeCPU), 40*0.1+10*0.3+20*1.05; !near(got, want) {
		t.Errorf("node cpu after delete = %v, want %v", got, want)
	}
	if got := value(t, fams, nameNodeMemory); got != 100<<20 {
		t.Errorf("node memory after delete = %v", got)
	}
	for _, f := range fams {
		if strings.HasPrefix(f.name, "container_") || strings.HasPrefix(f.name, "pod_") {
			t.Errorf("family %s present without pods", f.name)
		}
	}
}

// TestNodeMetricsCountersNeverDecrease samples a node while pods come, go,
// change usage and restart, and checks that the node's and every pod's
// counter never go down, and a container's only when it restarted.
func TestNodeMetricsCountersNeverDecrease(t *testing.T) {
	n := NewNodeMetrics(t0, DefaultNodeOverhead)
	last := map[string]float64{}
	prevStart := map[string]float64{}
	restarts := 0
	for step := 0; step < 200; step++ {
		now := t0.Add(time.Duration(step) * 1500 * time.Millisecond)
		name := []string{"a", "b", "c"}[step%3]
		cstart := t0
		if step%17 == 0 {
			cstart = now // restart
		}
		if step%23 == 0 {
			n.DeletePod("ns", name, now)
		} else {
			n.SetPod(podOf("ns", name, t0, cu("x", cstart, int64(step%7)*100, 1<<20)), now)
		}
		fams := renderParse(t, n, now)
		start := map[string]float64{}
		for _, f := range fams {
			if f.name == nameContainerStart {
				for _, s := range f.samples {
					start[s.label("pod")] = s.value
				}
			}
		}
		for _, f := range fams {
			if f.typ != "counter" {
				continue
			}
			for _, s := range f.samples {
				pod := s.label("pod")
				key := f.name + "/" + pod
				old, seen := last[key]
				restarted := f.name == nameContainerCPU && start[pod] != prevStart[pod]
				if restarted && seen {
					restarts++
				}
				if s.value < old && !restarted {
					t.Fatalf("step %d: %s went down from %v to %v", step, key, old, s.value)
				}
				last[key] = s.value
			}
		}
		// A deleted pod that comes back is a new pod.
		for key := range last {
			if _, present := start[key[strings.Index(key, "/")+1:]]; !present {
				delete(last, key)
			}
		}
		prevStart = start
	}
	if restarts == 0 {
		t.Fatal("no restart was exercised")
	}
}

var numbers = regexp.MustCompile(`[ ][-+0-9.e]+`)

// TestRenderMatchesKubeletLayout renders the pods of the kubelet fixture and
// compares everything but the numbers with what the kubelet printed.
func TestRenderMatchesKubeletLayout(t *testing.T) {
	fixture, err := os.ReadFile("testdata/kubelet-v1.33-metrics-resource.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseText(fixture); err != nil {
		t.Fatalf("the test parser rejects the kubelet fixture: %v", err)
	}
	n := NewNodeMetrics(t0, DefaultNodeOverhead)
	// Added in an order unlike the output's, to exercise sorting.
	n.SetPod(podOf("monitoring", "node-exporter-m8z5t", t0, cu("node-exporter", t0, 10, 1)), t0)
	n.SetPod(podOf("default", "web-6d4cf56db6-4x7kq", t0, cu("nginx", t0, 10, 1), cu("log-shipper", t0, 10, 1)), t0)
	n.SetPod(podOf("kube-system", "kube-proxy-7xk2p", t0, cu("kube-proxy", t0, 10, 1)), t0)
	n.SetPod(podOf("default", "api-5f8b9c7d64-q2wmz", t0, cu("envoy", t0, 10, 1), cu("api", t0, 10, 1)), t0)
	n.SetPod(podOf("kube-system", "coredns-76f75df574-9h2qk", t0, cu("coredns", t0, 10, 1)), t0)
	got := n.AppendText(nil, t0.Add(time.Minute))

	norm := func(b []byte) string {
		var out []string
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if !strings.HasPrefix(line, "#") {
				line = numbers.ReplaceAllString(line, " N")
			}
			out = append(out, line)
		}
		return strings.Join(out, "\n")
	}
	if g, w := norm(got), norm(fixture); g != w {
		gl, wl := strings.Split(g, "\n"), strings.Split(w, "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var a, b string
			if i < len(gl) {
				a = gl[i]
			}
			if i < len(wl) {
				b = wl[i]
			}
			if a != b {
				t.Fatalf("line %d differs:\n got: %s\nwant: %s", i+1, a, b)
			}
		}
	}
}

func TestAppendFloat(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{1, "1"},
		{-1, "-1"},
		{734.21599, "734.21599"},
		{1.83390208e+08, "1.83390208e+08"},
		{184273.901234, "184273.901234"},
		{1.7525712147740223e+09, "1.7525712147740223e+09"},
		{float64(16 << 20), "1.6777216e+07"},
		{math.Inf(1), "+Inf"},
		{math.NaN(), "NaN"},
	}
	for _, tt := range tests {
		if got := string(appendFloat(nil, tt.v)); got != tt.want {
			t.Errorf("appendFloat(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestAppendLabelValue(t *testing.T) {
	if got, want := string(appendLabelValue(nil, "a\"b\\c\nd")), `a\"b\\c\nd`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestEmptyNodeRendersNodeFamiliesOnly(t *testing.T) {
	n := NewNodeMetrics(t0, Usage{NanoCores: 500e6, MemoryBytes: 1 << 30})
	fams := renderParse(t, n, t0.Add(4*time.Second))
	var names []string
	for _, f := range fams {
		names = append(names, f.name)
	}
	want := []string{nameNodeCPU, nameNodeMemory, nameNodeSwap, nameScrapeError}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("families %v, want %v", names, want)
	}
	if got := value(t, fams, nameNodeCPU); got != 2 {
		t.Errorf("node cpu = %v, want 2", got)
	}
	if got := value(t, fams, nameScrapeError); got != 0 {
		t.Errorf("resource_scrape_error = %v", got)
	}
}

func BenchmarkAppendText(b *testing.B) {
	for _, pods := range []int{10, 110} {
		b.Run(strconv.Itoa(pods)+"pods", func(b *testing.B) {
			n := NewNodeMetrics(t0, DefaultNodeOverhead)
			for i := 0; i < pods; i++ {
				n.SetPod(podOf("bench", "pod-"+strconv.Itoa(i), t0, cu("app", t0, 100, 1<<20), cu("sidecar", t0, 5, 1<<20)), t0)
			}
			buf := n.AppendText(nil, t0)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				buf = n.AppendText(buf[:0], t0.Add(time.Duration(i)*time.Millisecond))
			}
		})
	}
}
