//go:build linux

package hoststats

import (
	"testing"
	"time"
)

// TestReaderOnThisMachine reads the real machine: the numbers must be
// plausible and the process's own CPU must advance while it burns CPU.
func TestReaderOnThisMachine(t *testing.T) {
	r, err := New()
	if err != nil {
		t.Skipf("host stats unavailable here: %v", err)
	}
	t.Logf("sources: %s", r.Describe())
	cpus, mem := r.Capacity()
	if cpus < 1 || mem < 64<<20 {
		t.Fatalf("capacity %d cpus, %d bytes", cpus, mem)
	}
	a, err := r.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if a.NodeCPUNanoseconds == 0 || a.NodeWorkingSetBytes == 0 || a.SelfWorkingSetBytes == 0 {
		t.Fatalf("implausible first sample %+v", a)
	}
	if a.NodeWorkingSetBytes > mem {
		t.Errorf("node working set %d above capacity %d", a.NodeWorkingSetBytes, mem)
	}
	// Burn ~100 ms of CPU, bounded by wall time.
	deadline := time.Now().Add(100 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		for i := 0; i < 1000; i++ {
			x += i * i
		}
	}
	_ = x
	b, err := r.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if b.SelfCPUNanoseconds <= a.SelfCPUNanoseconds {
		t.Errorf("own CPU did not advance: %d -> %d", a.SelfCPUNanoseconds, b.SelfCPUNanoseconds)
	}
	if b.NodeCPUNanoseconds < a.NodeCPUNanoseconds+uint64(20*time.Millisecond) {
		t.Errorf("node CPU advanced only %d ns while this process burned CPU", b.NodeCPUNanoseconds-a.NodeCPUNanoseconds)
	}
	if !b.Time.After(a.Time) {
		t.Errorf("sample times %v, %v", a.Time, b.Time)
	}
}
