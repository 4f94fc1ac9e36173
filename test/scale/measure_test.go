package main

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestParseStatusBytes(t *testing.T) {
	status := "Name:\tx\nVmHWM:\t  4096 kB\nVmRSS:\t  2048 kB\nVmData: 1 kB\n"
	tests := []struct {
		in      string
		field   string
		want    int64
		wantErr bool
	}{
		{status, "VmRSS", 2048 << 10, false},
		{status, "VmHWM", 4096 << 10, false},
		{"Name:\tx\n", "VmRSS", 0, true},
		{"VmRSS:\t2 MB\n", "VmRSS", 0, true},
	}
	for _, tt := range tests {
		got, err := parseStatusBytes([]byte(tt.in), tt.field)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseStatusBytes(%q, %s) = %d, %v; want %d, error %v", tt.in, tt.field, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		in      string
		want    procStat
		wantErr bool
	}{
		// minflt 100, utime 250 and stime 50 ticks; the command has a space and a ')'.
		{"42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 1000 10", procStat{cpuSeconds: 3, minorFaults: 100}, false},
		{"42 (x) S 1 2", procStat{}, true},
		{"42 (x) S 1 42 42 0 -1 4194560 many 0 0 0 250 50 0", procStat{}, true},
		{"garbage", procStat{}, true},
	}
	for _, tt := range tests {
		got, err := parseStat([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

const exposition = `# HELP h_seconds x
# TYPE h_seconds histogram
h_seconds_bucket{node="a",le="0.01"} 1
h_seconds_bucket{node="a",le="0.1"} 3
h_seconds_bucket{node="a",le="+Inf"} 4
h_seconds_sum{node="a"} 1.5
h_seconds_count{node="a"} 4
h_seconds_bucket{node="b",le="0.01"} 1
h_seconds_bucket{node="b",le="0.1"} 5
h_seconds_bucket{node="b",le="+Inf"} 6
h_seconds_sum{node="b"} 0.5
h_seconds_count{node="b"} 6
other_bucket{le="1"} 100
`

func TestHistogram(t *testing.T) {
	h, err := parseHistogram([]byte(exposition), "h_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if h.count() != 10 || h.sum != 2 {
		t.Fatalf("count %v sum %v, want 10 and 2", h.count(), h.sum)
	}
	tests := []struct {
		q, want float64
	}{
		{0.1, 0.005},   // rank 1 of 2 in the first bucket
		{0.5, 0.055},   // rank 5: 3 of 6 into (0.01, 0.1]
		{0.95, 0.1},    // rank 9.5 in +Inf: the highest finite bound
		{0.8, 0.1},     // rank 8 is the top of (0.01, 0.1]
		{0.2, 0.01},    // rank 2 is the top of the first bucket
		{0.65, 0.0775}, // rank 6.5: 4.5 of 6 into (0.01, 0.1]
	}
	for _, tt := range tests {
		if got := h.quantile(tt.q); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	d := h.sub(h)
	if d.count() != 0 || !math.IsNaN(d.quantile(0.5)) {
		t.Errorf("h - h: count %v, quantile %v; want 0 and NaN", d.count(), d.quantile(0.5))
	}
	if _, err := parseHistogram([]byte(exposition), "missing"); err == nil {
		t.Error("a missing family must be an error")
	}
}

func TestHistogramLabels(t *testing.T) {
	tests := []struct {
		match      []string
		count, sum float64
		within10ms float64 // fraction at most le="0.01"
		wantErr    bool    // no series matches
	}{
		{match: []string{`node="b"`}, count: 6, sum: 0.5, within10ms: 1.0 / 6},
		{match: []string{`node="a"`}, count: 4, sum: 1.5, within10ms: 1.0 / 4},
		{match: []string{`node="a"`, `node="b"`}, wantErr: true},
		{match: []string{`node="c"`}, wantErr: true},
		{match: []string{`node="`}, wantErr: true}, // whole labels only
	}
	for _, tt := range tests {
		h, err := parseHistogram([]byte(exposition), "h_seconds", tt.match...)
		if tt.wantErr {
			if err == nil {
				t.Errorf("match %q: got count %v, want an error", tt.match, h.count())
			}
			continue
		}
		if err != nil {
			t.Fatalf("match %q: %v", tt.match, err)
		}
		if h.count() != tt.count || h.sum != tt.sum || math.Abs(h.within(0.01)-tt.within10ms) > 1e-9 {
			t.Errorf("match %q: count %v sum %v within(0.01) %v; want %v %v %v", tt.match, h.count(), h.sum, h.within(0.01), tt.count, tt.sum, tt.within10ms)
		}
		if !math.IsNaN(h.within(0.05)) {
			t.Errorf("match %q: within a bound the histogram lacks = %v, want NaN", tt.match, h.within(0.05))
		}
	}
}

func TestSummarize(t *testing.T) {
	s := summarize([]float64{5, 1, 4, 2, 3})
	want := summary{Count: 5, Mean: 3, P50: 3, P90: 5, P99: 5, Max: 5}
	if s != want {
		t.Fatalf("summarize = %+v, want %+v", s, want)
	}
	if (summarize(nil) != summary{}) {
		t.Fatal("empty input must give the zero summary")
	}
}

// TestServerResultJSON checks the field names the plot and earlier result
// files use: the polling window's figures at the top level of a server, the
// window without API clients under noClients.
func TestServerResultJSON(t *testing.T) {
	s := serverResult{Name: "x"}
	s.resources = resourcesOver([]float64{2 << 20}, 1, 4, config{cycles: 3, nodes: 2, resolution: 10 * time.Second})
	s.NoClients = resources{MiBPerNode: 7}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m["rssMiBPerNode"] != 1.0 || m["milliCPUPerNode"] != 50.0 || m["cpuSecondsPerCycle"] != 1.0 {
		t.Errorf("top-level figures: %s", data)
	}
	if nc, ok := m["noClients"].(map[string]any); !ok || nc["rssMiBPerNode"] != 7.0 {
		t.Errorf("noClients: %s", data)
	}
}

func TestPageFaultMicroseconds(t *testing.T) {
	us, err := pageFaultMicroseconds(4 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if us <= 0 || math.IsInf(us, 0) || math.IsNaN(us) {
		t.Errorf("pageFaultMicroseconds = %v, want a positive duration", us)
	}
}
