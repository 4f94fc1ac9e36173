package scraper

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/kubelet"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

func TestPhaseOffsetAndNextTick(t *testing.T) {
	res := 15 * time.Second
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, name := range []string{"a", "node-1", "node-2", "worker-10000"} {
		off := phaseOffset(name, res)
		if off < 0 || off >= res {
			t.Errorf("%s: offset %s outside [0,%s)", name, off, res)
		}
		if off != phaseOffset(name, res) {
			t.Errorf("%s: offset not stable", name)
		}
		if off%slotWidth != 0 {
			t.Errorf("%s: offset %s not on the %s slot grid", name, off, slotWidth)
		}
	}
	// 1,000 nodes use (nearly) every slot, none much more than its share
	perSlot := map[time.Duration]int{}
	for i := range 1000 {
		perSlot[phaseOffset(fmt.Sprintf("node-%d", i), res)]++
	}
	if slots := int(res / slotWidth); len(perSlot) < slots*9/10 {
		t.Errorf("1,000 nodes on %d of %d slots", len(perSlot), slots)
	}
	for off, n := range perSlot {
		if n > 3*1000/int(res/slotWidth) {
			t.Errorf("slot %s has %d nodes", off, n)
		}
	}
	// a resolution shorter than two slots is not quantized
	if off := phaseOffset("node-1", 300*time.Millisecond); off < 0 || off >= 300*time.Millisecond {
		t.Errorf("short resolution: offset %s", off)
	}
	tests := []struct {
		name   string
		now    time.Time
		offset time.Duration
		want   time.Time
	}{
		{"slot later in this interval", base.Add(2 * time.Second), 5 * time.Second, base.Add(5 * time.Second)},
		{"slot already passed", base.Add(6 * time.Second), 5 * time.Second, base.Add(20 * time.Second)},
		{"exactly on the slot moves on", base.Add(5 * time.Second), 5 * time.Second, base.Add(20 * time.Second)},
		{"zero offset", base.Add(1), 0, base.Add(res)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextTick(tc.now, res, tc.offset); !got.Equal(tc.want) {
				t.Errorf("nextTick = %s, want %s", got, tc.want)
			}
		})
	}
}

// fakeClient answers per node: "hang" blocks until the context ends, "fail"
// errors, anything else succeeds.
type fakeClient struct {
	mu    sync.Mutex
	calls map[string]int
}

func (f *fakeClient) Scrape(ctx context.Context, node *corev1.Node, _ *kubelet.Decoder, b *storage.NodeBatch) (kubelet.ScrapeInfo, error) {
	f.mu.Lock()
	f.calls[node.Name]++
	f.mu.Unlock()
	b.Reset(node.Name)
	switch node.Name {
	case "hang":
		<-ctx.Done()
		return kubelet.ScrapeInfo{}, ctx.Err()
	case "fail":
		return kubelet.ScrapeInfo{}, errors.New("boom")
	}
	b.ScrapedAt = time.Now().UnixNano()
	return kubelet.ScrapeInfo{Bytes: 10}, nil
}

func (f *fakeClient) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

type fakeSink struct {
	mu      sync.Mutex
	stored  map[string]int
	deleted []string
}

func (s *fakeSink) StoreNode(b *storage.NodeBatch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stored[b.Node]++
}

func (s *fakeSink) DeleteNode(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleted = append(s.deleted, node)
}

func (s *fakeSink) storedCount(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored[name]
}

func node(name string) *corev1.Node { return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}} }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ { // at most 2 s
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestScraperIsolatesNodesAndFollowsInformer(t *testing.T) {
	client := &fakeClient{calls: map[string]int{}}
	sink := &fakeSink{stored: map[string]int{}}
	// One scrape slot only: a hanging node must still not starve the others
	// for longer than the timeout.
	s := New(client, sink, Options{Resolution: 100 * time.Millisecond, Timeout: 30 * time.Millisecond, MaxConcurrent: 1})
	for _, n := range []string{"good-1", "hang", "fail"} {
		s.AddOrUpdateNode(node(n))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	waitFor(t, "good-1 stored three times", func() bool { return sink.storedCount("good-1") >= 3 })
	if sink.storedCount("hang") != 0 || sink.storedCount("fail") != 0 {
		t.Errorf("failed scrapes reached the sink: %v", sink.stored)
	}
	if client.count("hang") == 0 || client.count("fail") == 0 {
		t.Errorf("failing nodes not retried: %v", client.calls)
	}

	// A node added while running is scraped at once.
	s.AddOrUpdateNode(node("good-2"))
	waitFor(t, "good-2 stored", func() bool { return sink.storedCount("good-2") >= 1 })

	s.DeleteNode("good-1")
	calls := client.count("good-1")
	time.Sleep(250 * time.Millisecond)
	if client.count("good-1") != calls {
		t.Errorf("deleted node still scraped")
	}
	sink.mu.Lock()
	deleted := append([]string(nil), sink.deleted...)
	sink.mu.Unlock()
	if len(deleted) != 1 || deleted[0] != "good-1" {
		t.Errorf("sink deletions %v", deleted)
	}
	if s.Nodes() != 3 {
		t.Errorf("Nodes() = %d, want 3", s.Nodes())
	}
	if time.Since(s.LastProgress()) > time.Second {
		t.Errorf("LastProgress %s ago", time.Since(s.LastProgress()))
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestLogTransitionState(t *testing.T) {
	l := &nodeLoop{}
	n := node("n")
	steps := []struct {
		err         error
		reason      string
		rejected    int
		wantFailing bool
		wantState   string
	}{
		{nil, "", 0, false, ""},
		{errors.New("x"), "timeout", 0, true, "timeout"},
		{errors.New("x"), "timeout", 0, true, "timeout"},
		{errors.New("x"), "http_status", 0, true, "http_status"},
		{nil, "", 0, false, ""},
		{nil, "", 3, false, "rejected_samples"},
		{nil, "", 3, false, "rejected_samples"}, // stays: no second log line
		{nil, "", 3, false, "rejected_samples"},
		{nil, "", 0, false, ""},
	}
	for i, s := range steps {
		l.logTransition(n, s.reason, s.err, kubelet.ScrapeInfo{Rejected: s.rejected})
		if l.failing != s.wantFailing || l.lastReason != s.wantState {
			t.Errorf("step %d: failing=%v state=%q, want %v %q", i, l.failing, l.lastReason, s.wantFailing, s.wantState)
		}
	}
}
