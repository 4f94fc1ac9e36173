package scraper

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/kubelet"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

// funcClient scrapes with f.
type funcClient func(ctx context.Context, node *corev1.Node, b *storage.NodeBatch) (kubelet.ScrapeInfo, error)

func (f funcClient) Scrape(ctx context.Context, node *corev1.Node, _ *kubelet.Decoder, b *storage.NodeBatch) (kubelet.ScrapeInfo, error) {
	b.Reset(node.Name)
	return f(ctx, node, b)
}

// eventSink records StoreNode and DeleteNode calls in order; store, when
// set, runs inside StoreNode.
type eventSink struct {
	mu     sync.Mutex
	events []string
	store  func(b *storage.NodeBatch)
}

func (s *eventSink) StoreNode(b *storage.NodeBatch) {
	if s.store != nil {
		s.store(b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, "store "+b.Node)
}

func (s *eventSink) DeleteNode(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, "delete "+node)
}

func (s *eventSink) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...)
}

func runScraper(t *testing.T, s *Scraper) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
}

// TestDeleteNodeWaitsForStore: a node deleted while its result is being
// stored is deleted from the sink after that store, never before, and is
// not scraped again.
func TestDeleteNodeWaitsForStore(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	sink := &eventSink{store: func(*storage.NodeBatch) {
		if calls.Load() == 1 {
			close(entered)
			<-release
		}
	}}
	client := funcClient(func(ctx context.Context, node *corev1.Node, b *storage.NodeBatch) (kubelet.ScrapeInfo, error) {
		calls.Add(1)
		return kubelet.ScrapeInfo{}, nil
	})
	s := New(client, sink, Options{Resolution: 50 * time.Millisecond, MaxConcurrent: 1})
	s.AddOrUpdateNode(node("n1"))
	defer runScraper(t, s)()

	<-entered
	deleted := make(chan struct{})
	go func() { s.DeleteNode("n1"); close(deleted) }()
	select {
	case <-deleted:
		t.Fatal("DeleteNode returned while the node's store was in progress")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-deleted
	time.Sleep(150 * time.Millisecond) // three intervals
	if got := sink.list(); len(got) != 2 || got[0] != "store n1" || got[1] != "delete n1" {
		t.Errorf("sink saw %q, want a store then the delete", got)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("node scraped %d times, want once", n)
	}
}

// TestDeleteNodeDropsScrapeInFlight: a scrape that completes after its node
// was deleted (a client that ignores cancellation) is not stored.
func TestDeleteNodeDropsScrapeInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	sink := &eventSink{}
	client := funcClient(func(ctx context.Context, node *corev1.Node, b *storage.NodeBatch) (kubelet.ScrapeInfo, error) {
		close(entered)
		<-release
		return kubelet.ScrapeInfo{}, nil
	})
	s := New(client, sink, Options{Resolution: time.Minute, MaxConcurrent: 1})
	s.AddOrUpdateNode(node("n1"))
	defer runScraper(t, s)()

	<-entered
	deleted := make(chan struct{})
	go func() { s.DeleteNode("n1"); close(deleted) }()
	select {
	case <-deleted:
		t.Fatal("DeleteNode returned while the node's scrape was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-deleted
	if got := sink.list(); len(got) != 1 || got[0] != "delete n1" {
		t.Errorf("sink saw %q, want only the delete", got)
	}
}

// TestRunWaitsForScrapes: Run returns only after the scrapes in flight
// returned, and no scrape starts after it.
func TestRunWaitsForScrapes(t *testing.T) {
	var inFlight, started atomic.Int32
	client := funcClient(func(ctx context.Context, node *corev1.Node, b *storage.NodeBatch) (kubelet.ScrapeInfo, error) {
		started.Add(1)
		inFlight.Add(1)
		defer inFlight.Add(-1)
		<-ctx.Done()
		time.Sleep(30 * time.Millisecond) // slow to give up
		return kubelet.ScrapeInfo{}, ctx.Err()
	})
	s := New(client, &eventSink{}, Options{Resolution: time.Minute, MaxConcurrent: 2})
	s.AddOrUpdateNode(node("a"))
	s.AddOrUpdateNode(node("b"))
	stop := runScraper(t, s)
	waitFor(t, "both scrapes in flight", func() bool { return inFlight.Load() == 2 })
	stop()
	if n := inFlight.Load(); n != 0 {
		t.Errorf("Run returned with %d scrapes in flight", n)
	}
	s.AddOrUpdateNode(node("c")) // after Run: never scraped
	time.Sleep(50 * time.Millisecond)
	if n := started.Load(); n != 2 {
		t.Errorf("%d scrapes started, want 2", n)
	}
}

// TestNodeUpdateSeenByNextScrape: an updated Node (here a new address)
// is what the next scrape gets, and scrapes of a node never overlap.
func TestNodeUpdateSeenByNextScrape(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	var running atomic.Int32
	client := funcClient(func(ctx context.Context, node *corev1.Node, b *storage.NodeBatch) (kubelet.ScrapeInfo, error) {
		if running.Add(1) != 1 {
			t.Error("two scrapes of one node at once")
		}
		defer running.Add(-1)
		mu.Lock()
		seen = append(seen, node.Status.Addresses[0].Address)
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		return kubelet.ScrapeInfo{}, nil
	})
	last := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 {
			return ""
		}
		return seen[len(seen)-1]
	}
	withAddr := func(a string) *corev1.Node {
		n := node("n1")
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: a}}
		return n
	}
	s := New(client, &eventSink{}, Options{Resolution: 20 * time.Millisecond, MaxConcurrent: 4})
	s.AddOrUpdateNode(withAddr("10.0.0.1"))
	defer runScraper(t, s)()
	waitFor(t, "first scrape", func() bool { return last() == "10.0.0.1" })
	s.AddOrUpdateNode(withAddr("10.0.0.2"))
	waitFor(t, "a scrape of the new address", func() bool { return last() == "10.0.0.2" })
}

// goroutineID returns the ID of the calling goroutine, from its stack header.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := strings.Cut(strings.TrimPrefix(string(buf), "goroutine "), " ")
	return id
}

// TestWorkersAreReused: a node that falls due while a worker waits is scraped
// on that worker's goroutine (whose stack has grown already), and a worker
// with nothing to do ends after workerIdle.
func TestWorkersAreReused(t *testing.T) {
	var mu sync.Mutex
	scrapedOn := map[string]string{}
	client := funcClient(func(_ context.Context, node *corev1.Node, b *storage.NodeBatch) (kubelet.ScrapeInfo, error) {
		mu.Lock()
		scrapedOn[node.Name] = goroutineID()
		mu.Unlock()
		return kubelet.ScrapeInfo{}, nil
	})
	scraped := func(name string) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return scrapedOn[name] != "" }
	}
	base := runtime.NumGoroutine()
	s := New(client, nopSink{}, Options{Resolution: time.Hour, MaxConcurrent: 4})
	s.workerIdle = time.Second
	stop := runScraper(t, s)
	defer stop()

	s.AddOrUpdateNode(node("a"))
	waitFor(t, "a scraped", scraped("a"))
	waitFor(t, "a's worker waiting", func() bool { return s.idleWorkers.Load() == 1 })
	s.AddOrUpdateNode(node("b"))
	waitFor(t, "b scraped", scraped("b"))
	mu.Lock()
	a, b := scrapedOn["a"], scrapedOn["b"]
	mu.Unlock()
	if a != b {
		t.Errorf("b was scraped on goroutine %s, want a's worker %s", b, a)
	}
	// Run's goroutine stays; the worker ends.
	waitFor(t, "the idle worker to end", func() bool { return runtime.NumGoroutine() <= base+1 && s.idleWorkers.Load() == 0 })
}
