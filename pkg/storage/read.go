/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package storage

import (
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/metrics/pkg/apis/metrics"
)

// ContainerUsage is one container's usage as the API serves it.
type ContainerUsage struct {
	Name      string
	NanoCores uint64
	Bytes     uint64
}

// servablePod computes the usage of the pod whose containers are
// n.ctrs[lo:hi] at now, appending each container's to out when out is not nil.
// ok is false when any of its containers has no usage or the pod's grace
// ended. The caller holds n.mu (read or write).
func (s *Store) servablePod(n *nodeState, lo, hi int, now int64, out []ContainerUsage) (_ []ContainerUsage, ts, window int64, ok bool) {
	size := s.ringSize
	from := int64(math.MaxInt64) // earliest start of any container's interval
	expiry := int64(math.MaxInt64)
	for i := lo; i < hi; i++ {
		c := &n.ctrs[i]
		u, cok := c.usage(n.rings[i*size:(i+1)*size], s.cpuWindow, s.staleness)
		if !cok {
			return out, 0, 0, false
		}
		ts = max(ts, u.ts)
		from = min(from, u.ts-u.window)
		expiry = min(expiry, u.expiry)
		if out != nil {
			out = append(out, ContainerUsage{Name: c.container, NanoCores: u.cpu, Bytes: u.mem})
		}
	}
	if hi == lo || now >= expiry {
		return out, 0, 0, false
	}
	return out, ts, ts - from, true
}

// podRange returns the container series of the pod: n.ctrs[lo:hi], empty when
// the node holds none. The caller holds n.mu.
func (n *nodeState) podRange(namespace, name string) (lo, hi int) {
	lo, _ = n.find(namespace, name, "")
	hi = lo
	for hi < len(n.ctrs) && n.ctrs[hi].namespace == namespace && n.ctrs[hi].pod == name {
		hi++
	}
	return lo, hi
}

// NodeMetrics returns the node's usage if it is servable now. Only Timestamp,
// Window and Usage are set.
func (s *Store) NodeMetrics(node string) (metrics.NodeMetrics, bool) {
	n := s.lookup(node)
	if n == nil {
		return metrics.NodeMetrics{}, false
	}
	n.mu.RLock()
	u, ok := n.node.usage(n.nodeRing, s.cpuWindow, s.staleness)
	n.mu.RUnlock()
	if !ok || s.now().UnixNano() >= u.expiry {
		return metrics.NodeMetrics{}, false
	}
	return metrics.NodeMetrics{
		Timestamp: metav1.NewTime(time.Unix(0, u.ts)),
		Window:    metav1.Duration{Duration: time.Duration(u.window)},
		Usage:     ResourceList(u.cpu, u.mem),
	}, true
}

// PodMetrics returns the usage of the pod on the node if it is servable now.
// Only Timestamp, Window and Containers (sorted by name) are set.
func (s *Store) PodMetrics(node, namespace, name string) (metrics.PodMetrics, bool) {
	var buf [4]ContainerUsage
	usage, ts, window, ok := s.AppendPodUsage(node, namespace, name, buf[:0])
	if !ok {
		return metrics.PodMetrics{}, false
	}
	return PodUsageMetrics(usage, ts, window), true
}

// PodUsageMetrics returns a pod's usage (AppendPodUsage) as the API serves
// it: Timestamp, Window and Containers set.
func PodUsageMetrics(usage []ContainerUsage, ts time.Time, window time.Duration) metrics.PodMetrics {
	ctrs := make([]metrics.ContainerMetrics, len(usage))
	for i, u := range usage {
		ctrs[i] = metrics.ContainerMetrics{Name: u.Name, Usage: ResourceList(u.NanoCores, u.Bytes)}
	}
	return metrics.PodMetrics{
		Timestamp:  metav1.NewTime(ts),
		Window:     metav1.Duration{Duration: window},
		Containers: ctrs,
	}
}

// AppendPodUsage appends the usage of the pod's containers (sorted by name) to
// out and returns it with the pod's timestamp and window, if the pod is
// servable now: what PodMetrics serves, without building the API object, for
// callers that write many pods' usage directly (a list).
func (s *Store) AppendPodUsage(node, namespace, name string, out []ContainerUsage) (_ []ContainerUsage, ts time.Time, window time.Duration, ok bool) {
	n := s.lookup(node)
	if n == nil {
		return out, time.Time{}, 0, false
	}
	now := s.now().UnixNano()
	n.mu.RLock()
	defer n.mu.RUnlock()
	lo, hi := n.podRange(namespace, name)
	if hi == lo {
		return out, time.Time{}, 0, false
	}
	if out == nil {
		out = make([]ContainerUsage, 0, hi-lo)
	}
	start := len(out)
	out, nts, nwindow, ok := s.servablePod(n, lo, hi, now, out)
	if !ok {
		return out[:start], time.Time{}, 0, false
	}
	return out, time.Unix(0, nts), time.Duration(nwindow), true
}

// ResourceList returns a usage (CPU in nanocores, memory in bytes) as the
// API serves it, each quantity holding its text (see Quantities).
func ResourceList(nanocores, bytes uint64) corev1.ResourceList {
	cpu, mem := Quantities(nanocores, bytes)
	return corev1.ResourceList{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem}
}

// Quantities returns a usage's CPU and memory quantities. Each quantity's
// canonical text is computed here, once, and travels with it: serializers
// work on copies of a map's values, so protobuf (Size, then Marshal) and JSON
// would otherwise each canonicalize the value and allocate its text again.
func Quantities(nanocores, bytes uint64) (cpu, mem resource.Quantity) {
	cpu = *resource.NewScaledQuantity(clampInt64(nanocores), resource.Nano)
	mem = *resource.NewQuantity(clampInt64(bytes), resource.BinarySI)
	_, _ = cpu.String(), mem.String() // String keeps the text in the quantity
	return cpu, mem
}

func clampInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// Ready reports whether at least one node and one pod are servable now.
func (s *Store) Ready() bool {
	now := s.now().UnixNano()
	node, pod := false, false
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for _, n := range sh.nodes {
			n.mu.RLock()
			if !node {
				u, ok := n.node.usage(n.nodeRing, s.cpuWindow, s.staleness)
				node = ok && now < u.expiry
			}
			for lo := 0; !pod && lo < len(n.ctrs); {
				hi := lo + 1
				for hi < len(n.ctrs) && samePod(&n.ctrs[lo], &n.ctrs[hi]) {
					hi++
				}
				_, _, _, pod = s.servablePod(n, lo, hi, now, nil)
				lo = hi
			}
			n.mu.RUnlock()
			if node && pod {
				sh.mu.RUnlock()
				return true
			}
		}
		sh.mu.RUnlock()
	}
	return false
}

func samePod(a, b *ctrSeries) bool {
	return a.pod == b.pod && a.namespace == b.namespace
}
