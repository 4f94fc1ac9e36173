/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package storage

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

const (
	benchPods       = 30
	benchContainers = 2
)

// fleetNames are the names of a simulated fleet, created once, as the decoder's
// interning would: one string per name, shared by every scrape.
type fleetNames struct {
	nodes      []string
	namespaces []string
	containers []string
	pods       [][]string // per node
}

func newFleetNames(nodes int) *fleetNames {
	f := &fleetNames{
		nodes:      make([]string, nodes),
		namespaces: make([]string, 10),
		containers: []string{"app", "istio-proxy"},
		pods:       make([][]string, nodes),
	}
	for i := range f.namespaces {
		f.namespaces[i] = fmt.Sprintf("team-%d", i)
	}
	for n := range nodes {
		f.nodes[n] = fmt.Sprintf("ip-10-0-%d-%d.eu-west-1.compute.internal", n/256, n%256)
		f.pods[n] = make([]string, benchPods)
		for p := range benchPods {
			f.pods[n][p] = fmt.Sprintf("deployment-%d-7d9f8c6b5-%05d", p, n)
		}
	}
	return f
}

// fill makes b the i-th scrape of node n (every 15 s, 100m per container).
func (f *fleetNames) fill(b *NodeBatch, n, i int) {
	b.Reset(f.nodes[n])
	ts := t0 + int64(i)*15*sec
	b.ScrapedAt = ts + 50*ms
	cpu := 1000*core + uint64(i)*1500*uint64(time.Millisecond)
	b.NodePoint = Point{Timestamp: ts, CPUNanoSeconds: 64 * cpu, WorkingSetBytes: 8 << 30, StartTime: t0 - 86400*sec, Valid: HasCPU | HasMemory | HasSwap}
	for p := range benchPods {
		for c := range benchContainers {
			b.Containers = append(b.Containers, ContainerPoint{
				Namespace: f.namespaces[p%len(f.namespaces)],
				Pod:       f.pods[n][p],
				Container: f.containers[c],
				Point: Point{Timestamp: ts + int64(c)*ms, CPUNanoSeconds: cpu + uint64(p), WorkingSetBytes: 200 << 20,
					StartTime: t0 - 3600*sec, Valid: HasCPU | HasMemory | HasSwap},
			})
		}
	}
}

// buildFleet stores two scrapes of every node, so every pod is servable.
func buildFleet(f *fleetNames) (*Store, *fakeClock) {
	s, c := newTestStore(Options{})
	b := &NodeBatch{}
	for i := range 2 {
		c.Set(t0 + int64(i)*15*sec + 50*ms)
		for n := range f.nodes {
			f.fill(b, n, i)
			s.StoreNode(b)
		}
	}
	return s, c
}

type fleet struct {
	names *fleetNames
	store *Store
}

var (
	fleetsMu sync.Mutex
	fleets   = map[int]*fleet{}
)

// cachedFleet builds a fleet once per size for all benchmarks.
func cachedFleet(nodes int) *fleet {
	fleetsMu.Lock()
	defer fleetsMu.Unlock()
	if f, ok := fleets[nodes]; ok {
		return f
	}
	names := newFleetNames(nodes)
	s, _ := buildFleet(names)
	f := &fleet{names: names, store: s}
	fleets[nodes] = f
	return f
}

func BenchmarkStoreNode(b *testing.B) {
	f := newFleetNames(1)
	s, c := newTestStore(Options{})
	batch := &NodeBatch{}
	f.fill(batch, 0, 0)
	s.StoreNode(batch)
	i := 1
	b.ReportAllocs()
	for b.Loop() {
		f.fill(batch, 0, i)
		c.Set(batch.ScrapedAt)
		s.StoreNode(batch)
		i++
	}
	if _, ok := s.PodMetrics(f.nodes[0], f.namespaces[0], f.pods[0][0]); !ok {
		b.Fatal("pod not served after the benchmark")
	}
}

func BenchmarkReadAllPods(b *testing.B) {
	for _, nodes := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			f := cachedFleet(nodes)
			s, names := f.store, f.names
			b.ReportAllocs()
			for b.Loop() {
				for n, node := range names.nodes {
					for p, pod := range names.pods[n] {
						if _, ok := s.PodMetrics(node, names.namespaces[p%len(names.namespaces)], pod); !ok {
							b.Fatalf("pod %s not served", pod)
						}
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(nodes*benchPods), "ns/pod")
		})
	}
}

func BenchmarkGetPod(b *testing.B) {
	f := cachedFleet(10000)
	s, names := f.store, f.names
	node, ns, pod := names.nodes[4321], names.namespaces[7], names.pods[4321][17]
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.PodMetrics(node, ns, pod); !ok {
			b.Fatal("pod not served")
		}
	}
}

func BenchmarkGetNode(b *testing.B) {
	f := cachedFleet(10000)
	s, node := f.store, f.names.nodes[4321]
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.NodeMetrics(node); !ok {
			b.Fatal("node not served")
		}
	}
}

// BenchmarkMemory reports the heap the store holds per node at 10,000 nodes x
// 30 pods x 2 containers (names excluded: the decoder interns them anyway), and
// the same including the name strings.
func BenchmarkMemory(b *testing.B) {
	const nodes = 10000
	var perNode, withNames float64
	for b.Loop() {
		runtime.GC()
		var m0, m1, m2 runtime.MemStats
		runtime.ReadMemStats(&m0)
		names := newFleetNames(nodes)
		runtime.GC()
		runtime.ReadMemStats(&m1)
		s, _ := buildFleet(names)
		runtime.GC()
		runtime.ReadMemStats(&m2)
		if _, ok := s.PodMetrics(names.nodes[0], names.namespaces[0], names.pods[0][0]); !ok {
			b.Fatal("pod not served")
		}
		perNode = float64(m2.HeapAlloc-m1.HeapAlloc) / nodes
		withNames = float64(m2.HeapAlloc-m0.HeapAlloc) / nodes
		runtime.KeepAlive(names)
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perNode, "B/node")
	b.ReportMetric(withNames, "B/node-with-names")
	b.ReportMetric(0, "ns/op")
}
