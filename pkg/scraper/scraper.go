// Package scraper runs one scrape loop per node. Each loop ticks at the metric
// resolution with a stable phase offset derived from the node's name, so scrapes
// are spread evenly over the interval and a node keeps its slot across restarts.
// A loop is a timer (time.AfterFunc), not a goroutine: when it fires, the scrape
// is handed to a worker goroutine that has scraped before if one is idle (its
// stack is already grown to what a TLS read, gunzip and decode need, so scrapes
// do not pay stack growth and copying), else to a new one; workers idle for
// two seconds end. The batch a scrape decodes into comes from a pool for that
// scrape only, so an idle node costs its Decoder's name table and a timer.
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
// it keeps: once StoreNode returns, the batch goes back to a pool and is reused
// by the next scrape of any node.
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
	// handoff passes a due loop to an idle worker (see work); unbuffered,
	// so a send succeeds only when a worker is waiting.
	handoff chan *nodeLoop
	// idleWorkers counts workers waiting on handoff, at most MaxConcurrent.
	idleWorkers atomic.Int32
	// workerIdle is how long a worker waits for the next due loop.
	workerIdle time.Duration
}

// defaultWorkerIdle is how long a worker waits for the next due loop before it
// ends. Slots are a second apart, so workers live across slots; their number
// follows the largest burst of concurrent scrapes.
const defaultWorkerIdle = 2 * time.Second

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
		// a loop handed off is ticked by the worker that took it
		handoff:    make(chan *nodeLoop),
		workerIdle: defaultWorkerIdle,
	}
	s.lastProgress.Store(opts.Now().UnixNano())
	if opts.TracerProvider != nil {
		s.tracer = opts.TracerProvider.Tracer(TracerName)
	}
	return s
}

// Run starts the loops of known nodes and of nodes added later, and blocks
// until ctx is done; then every loop has stopped and no scrape is in flight.
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
	// A node added from now on is not started (ctx is done), so these are
	// all the loops that can scrape.
	for _, l := range loops {
		l.stop()
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
	l.stop()
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

// startLocked starts l's loop; its first scrape is due at once. Called with
// s.mu held, once Run has set s.ctx.
func (s *Scraper) startLocked(l *nodeLoop) {
	if s.ctx.Err() != nil {
		return // Run is stopping, or has returned
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil || l.stopped {
		return
	}
	l.ctx, l.cancel = context.WithCancel(s.ctx)
	l.offset = phaseOffset(l.name, s.opts.Resolution)
	// A new node is scraped at once, then on its own slot of the grid: its
	// first CPU rate is served within one resolution of its registration.
	// l.mu is held until l.timer is set, which tick waits for.
	l.timer = time.AfterFunc(0, l.due)
}

// due runs on the timer's goroutine: it hands the loop's tick to an idle
// worker, or becomes a worker itself.
func (l *nodeLoop) due() {
	s := l.scraper
	select {
	case s.handoff <- l:
	default:
		s.work(l)
	}
}

// work ticks l, then every loop handed off to it, until none came for
// s.workerIdle, Run is stopping, or MaxConcurrent other workers already wait.
func (s *Scraper) work(l *nodeLoop) {
	var idle *time.Timer
	for {
		l.tick()
		if s.idleWorkers.Add(1) > int32(cap(s.sem)) {
			s.idleWorkers.Add(-1)
			return
		}
		if idle == nil {
			idle = time.NewTimer(s.workerIdle)
			defer idle.Stop()
		} else {
			idle.Reset(s.workerIdle)
		}
		select {
		case l = <-s.handoff:
			s.idleWorkers.Add(-1)
		case <-idle.C:
			s.idleWorkers.Add(-1)
			return
		case <-l.ctx.Done():
			s.idleWorkers.Add(-1)
			return
		}
	}
}

// slotWidth is the grid nodes' phase offsets are placed on. Nodes sharing a
// slot are scraped in one burst, so an otherwise idle process wakes once per
// slot instead of once per node, and the more scrapes a burst holds the less
// often the runtime parks and wakes its threads between them (at 1,000 nodes
// and 15 s, about 67 nodes per slot: ~16 % less CPU than 250 ms slots,
// docs/benchmarks/README.md, session 9); 15 slots per 15 s still spread the
// load evenly.
const slotWidth = time.Second

// phaseOffset spreads nodes over the interval by a hash of their name, on
// slots of slotWidth.
func phaseOffset(name string, resolution time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	slots := uint64(resolution / slotWidth)
	if slots < 2 {
		return time.Duration(h.Sum64() % uint64(resolution))
	}
	return time.Duration(h.Sum64()%slots) * slotWidth
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

// nodeLoop is one node's scrape loop: a timer that runs tick, which scrapes
// the node and sets the timer for the node's next slot. Ticks of one node
// never overlap (the timer is set again only when a scrape has finished),
// so the Decoder, lastReason and failing are used by one scrape at a time.
type nodeLoop struct {
	scraper *Scraper
	name    string
	node    atomic.Pointer[corev1.Node]
	decoder *kubelet.Decoder

	mu      sync.Mutex
	ctx     context.Context    // child of Run's; canceled by stop
	cancel  context.CancelFunc // nil until started
	offset  time.Duration      // the node's phase on the grid
	timer   *time.Timer        // runs tick
	stopped bool               // no tick scrapes any more
	// inflight counts ticks that passed the stopped check; stop waits for
	// them. Add happens with mu held and stopped false, so never after stop
	// started waiting.
	inflight sync.WaitGroup

	// lastReason is the outcome of the previous scrape ("" when it succeeded),
	// so a failing node is logged when its state changes, not every cycle.
	lastReason string
	failing    bool
}

// tick runs on the timer's goroutine: one scrape, then the timer is set for
// the node's next slot.
func (l *nodeLoop) tick() {
	l.mu.Lock()
	if l.stopped || l.ctx.Err() != nil {
		l.mu.Unlock()
		return
	}
	l.inflight.Add(1)
	ctx := l.ctx
	l.mu.Unlock()
	defer l.inflight.Done()

	l.scrapeOnce(ctx)

	s := l.scraper
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped && ctx.Err() == nil {
		now := s.opts.Now()
		l.timer.Reset(nextTick(now, s.opts.Resolution, l.offset).Sub(now))
	}
}

// stop ends the loop: no scrape starts after it, a scrape in flight is
// canceled, and stop returns once it has finished (and stored, if it got
// that far). Safe to call more than once, and on a loop never started.
func (l *nodeLoop) stop() {
	l.mu.Lock()
	l.stopped = true
	if l.cancel != nil {
		l.cancel()
		l.timer.Stop()
	}
	l.mu.Unlock()
	l.inflight.Wait()
}

// batchPool holds the batches scrapes decode into: a node holds none between
// scrapes.
var batchPool = sync.Pool{New: func() any { return new(storage.NodeBatch) }}

// putBatch empties b, names included (they belong to one node's decoder),
// and returns it to the pool.
func putBatch(b *storage.NodeBatch) {
	clear(b.Containers[:cap(b.Containers)])
	b.Reset("")
	batchPool.Put(b)
}

func (l *nodeLoop) scrapeOnce(ctx context.Context) {
	s := l.scraper
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-s.sem }()

	b := batchPool.Get().(*storage.NodeBatch)
	defer putBatch(b) // after StoreNode, which copies what it keeps

	node := l.node.Load()
	start := s.opts.Now()
	sctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	sctx, span := s.startScrapeSpan(sctx)
	info, err := s.client.Scrape(sctx, node, l.decoder, b)
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
		s.noteNewestSample(b)
		s.sink.StoreNode(b)
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
