/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package storage

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"
)

const (
	// DefaultRingSize is the number of samples kept per series by default.
	DefaultRingSize = 2
	// MinRingSize is the smallest ring: a rate needs two samples.
	MinRingSize = 2
	// MaxRingSize is the largest ring.
	MaxRingSize = 255
	// DefaultMaxStaleness is how long a node's data is served after its last
	// scrape by default.
	DefaultMaxStaleness = 30 * time.Second

	numShards = 64
)

// Options configures a Store. The zero value is usable.
type Options struct {
	// RingSize is the number of samples kept per series: default 2, at least 2,
	// at most 255.
	RingSize int
	// CPUWindow selects the rate's base sample: 0 uses the previous sample;
	// otherwise the oldest sample within CPUWindow of the newest (and at least
	// the previous one).
	CPUWindow time.Duration
	// MaxStaleness is how long after NodeBatch.ScrapedAt a series is served;
	// default 30s.
	MaxStaleness time.Duration
	// Now is the clock, for tests; default time.Now.
	Now func() time.Time
}

// Store holds the series of every node and serves their usage. It is safe for
// concurrent use; see the package documentation for its policy.
type Store struct {
	ringSize  int
	cpuWindow int64
	staleness int64
	now       func() time.Time

	nodeSeries atomic.Int64
	ctrSeries  atomic.Int64

	shards [numShards]shard
}

type shard struct {
	mu    sync.RWMutex
	nodes map[string]*nodeState
	_     [64 - 32]byte // keep shards on their own cache lines
}

// nodeState is everything the store holds about one node.
type nodeState struct {
	// mu guards everything below: writers (StoreNode, ForgetPod, DeleteNode)
	// hold it for writing, readers compute what they serve under a read lock.
	mu      sync.RWMutex
	deleted bool
	node    series
	// nodeRing is the node series' ring.
	nodeRing []cpuSample
	// ctrs holds the container series sorted by (namespace, pod, container);
	// rings holds their rings, RingSize samples each, in the same order.
	ctrs  []ctrSeries
	rings []cpuSample
	// countedNode and countedCtrs are this node's contribution to the store's
	// series counters.
	countedNode bool
	countedCtrs int
}

type ctrSeries struct {
	namespace, pod, container string
	series
}

// NewStore returns an empty store.
func NewStore(o Options) *Store {
	s := &Store{
		ringSize:  o.RingSize,
		cpuWindow: int64(o.CPUWindow),
		staleness: int64(o.MaxStaleness),
		now:       o.Now,
	}
	switch {
	case s.ringSize == 0:
		s.ringSize = DefaultRingSize
	case s.ringSize < MinRingSize:
		s.ringSize = MinRingSize
	case s.ringSize > MaxRingSize:
		s.ringSize = MaxRingSize
	}
	if s.cpuWindow < 0 {
		s.cpuWindow = 0
	}
	if s.staleness <= 0 {
		s.staleness = int64(DefaultMaxStaleness)
	}
	if s.now == nil {
		s.now = time.Now
	}
	for i := range s.shards {
		s.shards[i].nodes = make(map[string]*nodeState)
	}
	return s
}

func (s *Store) shardOf(node string) *shard {
	// FNV-1a, inline to stay allocation-free.
	h := uint32(2166136261)
	for i := 0; i < len(node); i++ {
		h ^= uint32(node[i])
		h *= 16777619
	}
	return &s.shards[h%numShards]
}

func (s *Store) lookup(node string) *nodeState {
	sh := s.shardOf(node)
	sh.mu.RLock()
	n := sh.nodes[node]
	sh.mu.RUnlock()
	return n
}

func (s *Store) lookupOrCreate(node string) *nodeState {
	sh := s.shardOf(node)
	sh.mu.RLock()
	n := sh.nodes[node]
	sh.mu.RUnlock()
	if n != nil {
		return n
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if n = sh.nodes[node]; n == nil {
		n = &nodeState{}
		sh.nodes[node] = n
	}
	return n
}

// StoreNode records one scrape of one node. It may be called concurrently for
// different nodes, never concurrently for the same node. The batch is not
// modified and not retained (only its name strings are).
func (s *Store) StoreNode(b *NodeBatch) {
	if b == nil || b.Node == "" {
		return
	}
	now := s.now().UnixNano()
	w := writeCtx{scrapedAt: b.ScrapedAt, maxTS: now + int64(MaxFutureSkew), staleness: s.staleness}
	if w.scrapedAt == 0 {
		w.scrapedAt = now
	}
	n := s.lookupOrCreate(b.Node)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.deleted {
		return // DeleteNode raced with this scrape: the node is gone
	}

	rejected := 0
	switch {
	case b.NodePoint.Valid != 0:
		if n.nodeRing == nil {
			n.nodeRing = make([]cpuSample, s.ringSize)
		}
		if n.node.add(&b.NodePoint, n.nodeRing, &w) == sampleRejected {
			rejected++
		}
	case !b.KubeletScrapeError:
		n.node = series{}
	}
	rejected += s.storeContainers(n, b, &w)
	s.account(n)
	if rejected > 0 {
		klog.V(2).InfoS("Ignored samples with invalid or future timestamps",
			"node", klog.KRef("", b.Node), "samples", rejected, "maxFutureSkew", MaxFutureSkew)
	}
}

// storeContainers applies the batch's containers to the node's container
// series and returns how many samples were rejected. In the steady state (the
// same containers as last time) it updates series in place without allocating.
func (s *Store) storeContainers(n *nodeState, b *NodeBatch, w *writeCtx) (rejected int) {
	size := s.ringSize
	for i := range n.ctrs {
		n.ctrs[i].seen = false
	}
	var fresh []int32 // batch indices of containers the node does not hold yet
	for i := range b.Containers {
		cp := &b.Containers[i]
		j, found := n.find(cp.Namespace, cp.Pod, cp.Container)
		if !found {
			fresh = append(fresh, int32(i))
			continue
		}
		c := &n.ctrs[j]
		c.seen = true
		if c.add(&cp.Point, n.rings[j*size:(j+1)*size], w) == sampleRejected {
			rejected++
		}
	}
	vanished := 0
	if !b.KubeletScrapeError {
		for i := range n.ctrs {
			if !n.ctrs[i].seen {
				vanished++
			}
		}
	}
	if len(fresh) == 0 && vanished == 0 {
		return rejected
	}

	// The set of containers changed: merge the kept series and the new ones
	// into exactly sized new slices (rare, so allocating here is fine).
	cs := b.Containers
	slices.SortStableFunc(fresh, func(x, y int32) int {
		a, c := &cs[x], &cs[y]
		return compareKey(a.Namespace, a.Pod, a.Container, c.Namespace, c.Pod, c.Container)
	})
	ctrs := make([]ctrSeries, 0, len(n.ctrs)-vanished+len(fresh))
	rings := make([]cpuSample, 0, cap(ctrs)*size)
	i, k := 0, 0
	for i < len(n.ctrs) || k < len(fresh) {
		if k == len(fresh) || (i < len(n.ctrs) && n.ctrs[i].compare(&cs[fresh[k]]) < 0) {
			if n.ctrs[i].seen || b.KubeletScrapeError {
				ctrs = append(ctrs, n.ctrs[i])
				rings = append(rings, n.rings[i*size:(i+1)*size]...)
			}
			i++
			continue
		}
		cp := &cs[fresh[k]]
		k++
		if l := len(ctrs) - 1; l < 0 || ctrs[l].compare(cp) != 0 {
			ctrs = append(ctrs, ctrSeries{namespace: cp.Namespace, pod: cp.Pod, container: cp.Container})
			rings = rings[:len(rings)+size] // capacity reserved above; zero-valued
		}
		l := len(ctrs) - 1
		if ctrs[l].add(&cp.Point, rings[l*size:(l+1)*size], w) == sampleRejected {
			rejected++
		}
	}
	n.ctrs, n.rings = ctrs, rings
	return rejected
}

// find binary-searches the node's container series.
func (n *nodeState) find(namespace, pod, container string) (int, bool) {
	lo, hi := 0, len(n.ctrs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		c := &n.ctrs[m]
		switch compareKey(c.namespace, c.pod, c.container, namespace, pod, container) {
		case 0:
			return m, true
		case -1:
			lo = m + 1
		default:
			hi = m
		}
	}
	return lo, false
}

func (c *ctrSeries) compare(p *ContainerPoint) int {
	return compareKey(c.namespace, c.pod, c.container, p.Namespace, p.Pod, p.Container)
}

func compareKey(ns1, pod1, c1, ns2, pod2, c2 string) int {
	if r := strings.Compare(ns1, ns2); r != 0 {
		return r
	}
	if r := strings.Compare(pod1, pod2); r != 0 {
		return r
	}
	return strings.Compare(c1, c2)
}

// account brings the store's series counters up to date with n.
func (s *Store) account(n *nodeState) {
	hasNode := !n.deleted && n.node.lastTS != 0
	if hasNode != n.countedNode {
		if hasNode {
			s.nodeSeries.Add(1)
		} else {
			s.nodeSeries.Add(-1)
		}
		n.countedNode = hasNode
	}
	if d := len(n.ctrs) - n.countedCtrs; d != 0 {
		s.ctrSeries.Add(int64(d))
		n.countedCtrs = len(n.ctrs)
	}
}

// DeleteNode frees everything the store holds about the node.
func (s *Store) DeleteNode(node string) {
	sh := s.shardOf(node)
	sh.mu.Lock()
	n := sh.nodes[node]
	delete(sh.nodes, node)
	sh.mu.Unlock()
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.deleted = true
	n.node = series{}
	n.nodeRing, n.ctrs, n.rings = nil, nil, nil
	s.account(n)
}

// ForgetPod frees the series of a pod (deleted in the API) on the node.
func (s *Store) ForgetPod(node, namespace, name string) {
	n := s.lookup(node)
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.deleted {
		return
	}
	lo, hi := n.podRange(namespace, name)
	if hi == lo {
		return
	}
	n.ctrs = slices.Delete(n.ctrs, lo, hi)
	n.rings = slices.Delete(n.rings, lo*s.ringSize, hi*s.ringSize)
	s.account(n)
}

// Series returns how many node and container series the store holds.
func (s *Store) Series() (nodes, containers int) {
	return int(s.nodeSeries.Load()), int(s.ctrSeries.Load())
}
