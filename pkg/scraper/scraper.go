// Package scraper runs one scrape loop per node. Each loop ticks at the metric
// resolution with a stable phase offset derived from the node's name, so scrapes
// are spread evenly over the interval and a node keeps its slot across restarts.
// A node's result goes to the sink the moment it arrives: there is no barrier
// waiting for the slowest node. A semaphore bounds how many scrapes run at once.
package scraper

import (
	"context"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/kubelet"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

// Client scrapes one kubelet (kubelet.Client in production).
type Client interface {
	Scrape(ctx context.Context, node *corev1.Node, d *kubelet.Decoder, b *storage.NodeBatch) (kubelet.ScrapeInfo, error)
}

// Sink receives every successful scrape (the store). StoreNode must copy what
// it keeps: the batch is reused by the node's next scrape.
type Sink interface {
	StoreNode(b *storage.NodeBatch)
	DeleteNode(node string)
}

// Options configure a Scraper.
type Options struct {
	// Resolution is the interval between two scrapes of a node.
	Resolution time.Duration
	// Timeout bounds one scrape (the client applies its own request timeout too).
	Timeout time.Duration
	// MaxConcurrent bounds scrapes in flight across all nodes.
	MaxConcurrent int
	// Now is the clock, for tests.
	Now func() time.Time
	// TracerProvider, when set, traces every node scrape (see tracing.go);
	// nil adds nothing to a scrape.
	TracerProvider trace.TracerProvider
}

// Scraper owns the per-node loops.
type Scraper struct {
	client Client
	sink   Sink
	opts   Options
	sem    chan struct{}

	mu    sync.Mutex
	ctx   context.Context // set by Run; loops are children of it
	loops map[string]*nodeLoop

	// lastProgress is when any scrape last finished (Unix nanoseconds), for liveness.
	lastProgress atomic.Int64
	// newestSample is the newest sample time any successful scrape delivered
	// (Unix nanoseconds), for the data age metric.
	newestSample atomic.Int64
	// tracer is nil when tracing is off.
	tracer trace.Tracer
}

// New returns a Scraper; call Run to start it and AddOrUpdateNode/DeleteNode
// from a Node informer.
func New(client Client, sink Sink, opts Options) *Scraper {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 1
	}
	if opts.Timeout <= 0 || opts.Timeout > opts.Resolution {
		opts.Timeout = opts.Resolution
	}
	s := &Scraper{
		client: client,
		sink:   sink,
		opts:   opts,
		sem:    make(chan struct{}, opts.MaxConcurrent),
		loops:  map[string]*nodeLoop{},
	}
	s.lastProgress.Store(opts.Now().UnixNano())
	if opts.TracerProvider != nil {
		s.tracer = opts.TracerProvider.Tracer(TracerName)
	}
	return s
}

// Run starts the loops of known nodes and of nodes added later, and blocks
// until ctx is done; then every loop has stopped.
func (s *Scraper) Run(ctx context.Context) {
	s.mu.Lock()
	s.ctx = ctx
	for _, l := range s.loops {
		s.startLocked(l)
	}
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	loops := make([]*nodeLoop, 0, len(s.loops))
	for _, l := range s.loops {
		loops = append(loops, l)
	}
	s.mu.Unlock()
	for _, l := range loops {
		<-l.done
	}
}

// AddOrUpdateNode starts a loop for a new node, or hands an updated Node
// (new address, port or annotation) to its running loop.
func (s *Scraper) AddOrUpdateNode(node *corev1.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.loops[node.Name]; ok {
		l.node.Store(node)
		return
	}
	l := &nodeLoop{
		scraper: s,
		name:    node.Name,
		decoder: kubelet.NewDecoder(),
		done:    make(chan struct{}),
	}
	l.node.Store(node)
	s.loops[node.Name] = l
	if s.ctx != nil {
		s.startLocked(l)
	}
}

// DeleteNode stops the node's loop and frees its data in the sink.
func (s *Scraper) DeleteNode(name string) {
	s.mu.Lock()
	l, ok := s.loops[name]
	delete(s.loops, name)
	s.mu.Unlock()
	if !ok {
		return
	}
	if l.cancel != nil {
		l.cancel()
		<-l.done
	}
	// after the loop stopped, so a scrape in flight cannot re-add the node
	s.sink.DeleteNode(name)
}

// Nodes returns how many nodes have a loop.
func (s *Scraper) Nodes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.loops)
}

// LastProgress is when a scrape (successful or not) last finished.
func (s *Scraper) LastProgress() time.Time {
	return time.Unix(0, s.lastProgress.Load())
}

func (s *Scraper) startLocked(l *nodeLoop) {
	if l.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	l.cancel = cancel
	go l.run(ctx)
}

// phaseOffset spreads nodes over the interval by a hash of their name.
func phaseOffset(name string, resolution time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return time.Duration(h.Sum64() % uint64(resolution))
}

// nextTick returns the first instant after now on the node's grid
// (multiples of resolution shifted by offset).
func nextTick(now time.Time, resolution, offset time.Duration) time.Time {
	t := now.Truncate(resolution).Add(offset)
	for !t.After(now) {
		t = t.Add(resolution)
	}
	return t
}

type nodeLoop struct {
	scraper *Scraper
	name    string
	node    atomic.Pointer[corev1.Node]
	decoder *kubelet.Decoder
	batch   storage.NodeBatch
	cancel  context.CancelFunc
	done    chan struct{}

	// lastReason is the outcome of the previous scrape ("" when it succeeded),
	// so a failing node is logged when its state changes, not every cycle.
	lastReason string
	failing    bool
}

func (l *nodeLoop) run(ctx context.Context) {
	defer close(l.done)
	s := l.scraper
	offset := phaseOffset(l.name, s.opts.Resolution)
	// A new node is scraped at once, then on its own slot of the grid: its
	// first CPU rate is served within one resolution of its registration.
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		l.scrapeOnce(ctx)
		timer.Reset(nextTick(s.opts.Now(), s.opts.Resolution, offset).Sub(s.opts.Now()))
	}
}

func (l *nodeLoop) scrapeOnce(ctx context.Context) {
	s := l.scraper
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-s.sem }()

	node := l.node.Load()
	start := s.opts.Now()
	sctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	sctx, span := s.startScrapeSpan(sctx)
	info, err := s.client.Scrape(sctx, node, l.decoder, &l.batch)
	cancel()
	elapsed := s.opts.Now().Sub(start)
	s.lastProgress.Store(s.opts.Now().UnixNano())
	reason := ""
	if err != nil {
		reason = kubelet.Reason(err)
	}
	endScrapeSpan(span, node, info, reason, err)
	if ctx.Err() != nil {
		return // stopping: the outcome says nothing about the node
	}
	observeScrape(reason, elapsed, info)
	l.logTransition(node, reason, err, info)
	if err == nil {
		s.noteNewestSample(&l.batch)
		s.sink.StoreNode(&l.batch)
	}
}

func (l *nodeLoop) logTransition(node *corev1.Node, reason string, err error, info kubelet.ScrapeInfo) {
	// The node's state is the failure reason, "rejected_samples" for a scrape
	// that succeeded with unusable samples, or "" when all is well; only a
	// change of state is logged.
	state := reason
	if err == nil && info.Rejected > 0 {
		state = "rejected_samples"
	}
	if state == l.lastReason {
		return
	}
	switch {
	case err != nil:
		klog.ErrorS(err, "Scraping node failed", "node", klog.KObj(node), "address", info.Address, "reason", reason)
	case state != "":
		klog.InfoS("Node served unusable samples", "node", klog.KObj(node), "rejected", info.Rejected)
	default:
		klog.InfoS("Scraping node recovered", "node", klog.KObj(node), "address", info.Address, "previousState", l.lastReason)
	}
	l.failing = err != nil
	l.lastReason = state
}
