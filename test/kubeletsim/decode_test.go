package kubeletsim

import (
	"testing"
	"time"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/kubelet"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

// TestProjectDecoderReadsPayload feeds the simulator's payload to the
// project's own decoder and checks what it stores.
func TestProjectDecoderReadsPayload(t *testing.T) {
	n := NewNodeMetrics(t0, Usage{NanoCores: 100e6, MemoryBytes: 100 << 20})
	start := t0.Add(-time.Minute)
	n.SetPod(podOf("default", "web", start, cu("nginx", start, 250, 64<<20), cu("envoy", start, 50, 8<<20)), t0)
	n.SetPod(podOf("kube-system", "dns", t0, cu("coredns", t0, 10, 16<<20)), t0)
	now := t0.Add(20 * time.Second)

	var b storage.NodeBatch
	b.Reset("sim-node-0")
	d := kubelet.NewDecoder()
	if err := d.Decode(n.AppendText(nil, now), now, &b); err != nil {
		t.Fatal(err)
	}
	if d.RejectedSamples() != 0 {
		t.Errorf("%d samples rejected", d.RejectedSamples())
	}
	if b.KubeletScrapeError {
		t.Error("scrape error reported")
	}
	if !b.NodePoint.Valid.Has(storage.HasCPU|storage.HasMemory) || b.NodePoint.CPUNanoSeconds != uint64(20*(100+300+10)*1e6) ||
		b.NodePoint.WorkingSetBytes != (100+64+8+16)<<20 || b.NodePoint.Timestamp != now.UnixNano() {
		t.Errorf("node point %+v", b.NodePoint)
	}
	want := map[string]storage.Point{
		"default/web/nginx":       {CPUNanoSeconds: 80 * 250e6, WorkingSetBytes: 64 << 20, StartTime: start.UnixNano()},
		"default/web/envoy":       {CPUNanoSeconds: 80 * 50e6, WorkingSetBytes: 8 << 20, StartTime: start.UnixNano()},
		"kube-system/dns/coredns": {CPUNanoSeconds: 20 * 10e6, WorkingSetBytes: 16 << 20, StartTime: t0.UnixNano()},
	}
	if len(b.Containers) != len(want) {
		t.Fatalf("%d containers decoded, want %d", len(b.Containers), len(want))
	}
	for _, c := range b.Containers {
		key := c.Namespace + "/" + c.Pod + "/" + c.Container
		w, ok := want[key]
		if !ok {
			t.Errorf("unexpected container %s", key)
			continue
		}
		// Start times travel as float seconds: microsecond precision.
		if c.CPUNanoSeconds != w.CPUNanoSeconds || c.WorkingSetBytes != w.WorkingSetBytes ||
			c.Timestamp != now.UnixNano() || abs(c.StartTime-w.StartTime) > int64(time.Microsecond) {
			t.Errorf("%s: got %+v, want %+v", key, c.Point, w)
		}
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
