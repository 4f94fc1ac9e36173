package scraper

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/kubelet"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

// payload renders a /metrics/resource body with pods×containers containers
// (CPU, memory, swap and start time each), close to what a kubelet prints.
func payload(pods, containers int) []byte {
	var sb strings.Builder
	for _, fam := range []string{
		"container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
		"container_start_time_seconds", "container_swap_usage_bytes",
	} {
		fmt.Fprintf(&sb, "# HELP %s help\n# TYPE %s gauge\n", fam, fam)
		for p := range pods {
			for c := range containers {
				fmt.Fprintf(&sb, "%s{container=\"c-%d\",namespace=\"ns-%d\",pod=\"app-%02d-5f8b9c7d64-%05x\"} %d 1752574828796\n",
					fam, c, p%4, p, p*104729%0xfffff, 1000+p*7+c)
			}
		}
	}
	sb.WriteString("node_cpu_usage_seconds_total 184273.9 1752574828796\nnode_memory_working_set_bytes 2.2e+09 1752574828796\n")
	return []byte(sb.String())
}

// decodeClient decodes the same payload for every node with the node's real
// Decoder, as kubelet.Client does, and counts the scrapes.
type decodeClient struct {
	body  []byte
	calls atomic.Int64
}

func (c *decodeClient) Scrape(_ context.Context, node *corev1.Node, d *kubelet.Decoder, b *storage.NodeBatch) (kubelet.ScrapeInfo, error) {
	defer c.calls.Add(1)
	b.Reset(node.Name)
	if err := d.Decode(c.body, time.Now(), b); err != nil {
		return kubelet.ScrapeInfo{}, err
	}
	return kubelet.ScrapeInfo{Bytes: int64(len(c.body)), Series: d.AcceptedSamples()}, nil
}

type idleStats struct {
	goroutines int
	heap       uint64 // live heap, bytes
	stacks     uint64 // goroutine stacks in use, bytes
}

func readIdleStats() idleStats {
	runtime.GC()
	runtime.GC() // and once more, so sync.Pool's victim cache is empty too
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return idleStats{goroutines: runtime.NumGoroutine(), heap: ms.HeapAlloc, stacks: ms.StackInuse}
}

// runIdle adds nodes to a running scraper, waits until each was scraped
// once (the resolution is long enough that none is scraped twice), and
// returns what the process holds more than before, with the scraper idle.
func runIdle(t testing.TB, nodes int, body []byte) idleStats {
	t.Helper()
	before := readIdleStats()
	client := &decodeClient{body: body}
	s := New(client, nopSink{}, Options{Resolution: time.Hour, Timeout: time.Minute, MaxConcurrent: 8})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	for i := range nodes {
		s.AddOrUpdateNode(node(fmt.Sprintf("node-%05d", i)))
	}
	deadline := time.Now().Add(30 * time.Second)
	for client.calls.Load() < int64(nodes) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d nodes scraped", client.calls.Load(), nodes)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let the scrapes return
	after := readIdleStats()
	runtime.KeepAlive(s)
	cancel()
	<-done
	return idleStats{
		goroutines: after.goroutines - before.goroutines,
		heap:       after.heap - min(after.heap, before.heap),
		stacks:     after.stacks - min(after.stacks, before.stacks),
	}
}

// TestIdleNodesHoldNoScrapeState: between scrapes the scraper holds no
// goroutine per node, no batch and no decode scratch; only each node's
// Decoder with its name table (and its timer) stay. Workers waiting for the
// next due node are bounded by MaxConcurrent (runIdle uses 8), not by nodes.
func TestIdleNodesHoldNoScrapeState(t *testing.T) {
	const nodes = 200
	st := runIdle(t, nodes, payload(30, 2))
	t.Logf("%d idle nodes hold %d goroutines, %d B of heap, %d B of stacks", nodes, st.goroutines, st.heap, st.stacks)
	if st.goroutines > 5+8 { // Run itself, idle workers, slack for runtime helpers
		t.Errorf("%d idle nodes keep %d more goroutines, want none per node", nodes, st.goroutines)
	}
}

// TestScrapeReturnsBatch: a node holds no batch between scrapes, and the
// decoder keeps no decode scratch.
func TestScrapeReturnsBatch(t *testing.T) {
	client := &decodeClient{body: payload(3, 2)}
	var stored *storage.NodeBatch
	sink := storeFunc(func(b *storage.NodeBatch) {
		stored = b
		if b.Node != "n1" || len(b.Containers) != 6 {
			t.Errorf("sink got node %q with %d containers, want n1 with 6", b.Node, len(b.Containers))
		}
	})
	s := New(client, sink, Options{Resolution: time.Minute, MaxConcurrent: 1})
	scrapeOnceNow(t, s, "n1")
	if stored == nil {
		t.Fatal("nothing stored")
	}
	if stored.Node != "" || len(stored.Containers) != 0 {
		t.Errorf("the batch was not reset after StoreNode: node %q, %d containers", stored.Node, len(stored.Containers))
	}
	for i, c := range stored.Containers[:cap(stored.Containers)] {
		if c != (storage.ContainerPoint{}) {
			t.Fatalf("pooled batch keeps container %d: %+v", i, c)
		}
	}
}

type storeFunc func(*storage.NodeBatch)

func (f storeFunc) StoreNode(b *storage.NodeBatch) { f(b) }
func (storeFunc) DeleteNode(string)                {}

// BenchmarkIdleNodes reports what 1,000 idle nodes cost the scraper, per
// node: live heap (decoders' name tables, batches, decode scratch), goroutine
// stacks and goroutines. Each node was scraped once with a 30-pod,
// 2-container payload through its real Decoder.
//
//	go test -run '^$' -bench IdleNodes -benchtime 5x -count 6 ./pkg/scraper
func BenchmarkIdleNodes(b *testing.B) {
	const nodes = 1000
	body := payload(30, 2)
	var heap, stacks, goroutines float64
	for range b.N {
		st := runIdle(b, nodes, body)
		heap += float64(st.heap)
		stacks += float64(st.stacks)
		goroutines += float64(st.goroutines)
	}
	n := float64(b.N * nodes)
	b.ReportMetric(heap/n, "heap-B/node")
	b.ReportMetric(stacks/n, "stack-B/node")
	b.ReportMetric(goroutines/n, "goroutines/node")
	b.ReportMetric(0, "ns/op")
}
