/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package storage

import (
	"math"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/metrics/pkg/apis/metrics"
)

// snapshot is the immutable, servable view of one node, published after every
// write. Readers only ever load it.
type snapshot struct {
	node   usage
	nodeOK bool
	// pods are the servable pods sorted by (namespace, name); their containers
	// are ctrs[first:first+count], sorted by name.
	pods []podUsage
	ctrs []ctrUsage
}

type podUsage struct {
	namespace, name string
	ts, window      int64
	expiry          int64
	first, count    int32
}

type ctrUsage struct {
	name string
	cpu  uint64 // nanocores
	mem  uint64 // bytes
}

// publish computes and publishes the node's snapshot from its series.
func (s *Store) publish(n *nodeState) {
	snap := &snapshot{}
	snap.node, snap.nodeOK = n.node.usage(n.nodeRing, s.cpuWindow, s.staleness)

	pods := 0
	for i := range n.ctrs {
		if i == 0 || !samePod(&n.ctrs[i-1], &n.ctrs[i]) {
			pods++
		}
	}
	if pods > 0 {
		snap.pods = make([]podUsage, 0, pods)
		snap.ctrs = make([]ctrUsage, 0, len(n.ctrs))
	}
	size := s.ringSize
	for i := 0; i < len(n.ctrs); {
		first := i
		p := podUsage{namespace: n.ctrs[i].namespace, name: n.ctrs[i].pod, first: int32(len(snap.ctrs)), expiry: math.MaxInt64}
		from := int64(math.MaxInt64) // earliest start of any container's interval
		ok := true
		for ; i < len(n.ctrs) && (i == first || samePod(&n.ctrs[i-1], &n.ctrs[i])); i++ {
			if !ok {
				continue
			}
			c := &n.ctrs[i]
			u, cok := c.usage(n.rings[i*size:(i+1)*size], s.cpuWindow, s.staleness)
			if !cok {
				ok = false
				continue
			}
			snap.ctrs = append(snap.ctrs, ctrUsage{name: c.container, cpu: u.cpu, mem: u.mem})
			p.ts = max(p.ts, u.ts)
			from = min(from, u.ts-u.window)
			p.expiry = min(p.expiry, u.expiry)
		}
		if !ok {
			snap.ctrs = snap.ctrs[:p.first]
			continue
		}
		p.window = p.ts - from
		p.count = int32(len(snap.ctrs)) - p.first
		snap.pods = append(snap.pods, p)
	}
	n.snap.Store(snap)
}

func samePod(a, b *ctrSeries) bool {
	return a.pod == b.pod && a.namespace == b.namespace
}

func (s *Store) load(node string) *snapshot {
	n := s.lookup(node)
	if n == nil {
		return nil
	}
	return n.snap.Load()
}

// NodeMetrics returns the node's usage if it is servable now. Only Timestamp,
// Window and Usage are set.
func (s *Store) NodeMetrics(node string) (metrics.NodeMetrics, bool) {
	snap := s.load(node)
	if snap == nil || !snap.nodeOK || s.now().UnixNano() >= snap.node.expiry {
		return metrics.NodeMetrics{}, false
	}
	u := &snap.node
	return metrics.NodeMetrics{
		Timestamp: metav1.NewTime(time.Unix(0, u.ts)),
		Window:    metav1.Duration{Duration: time.Duration(u.window)},
		Usage:     resourceList(u.cpu, u.mem),
	}, true
}

// PodMetrics returns the usage of the pod on the node if it is servable now.
// Only Timestamp, Window and Containers (sorted by name) are set.
func (s *Store) PodMetrics(node, namespace, name string) (metrics.PodMetrics, bool) {
	snap := s.load(node)
	if snap == nil {
		return metrics.PodMetrics{}, false
	}
	p := snap.findPod(namespace, name)
	if p == nil || s.now().UnixNano() >= p.expiry {
		return metrics.PodMetrics{}, false
	}
	ctrs := snap.ctrs[p.first : p.first+p.count]
	out := metrics.PodMetrics{
		Timestamp:  metav1.NewTime(time.Unix(0, p.ts)),
		Window:     metav1.Duration{Duration: time.Duration(p.window)},
		Containers: make([]metrics.ContainerMetrics, len(ctrs)),
	}
	for i := range ctrs {
		out.Containers[i] = metrics.ContainerMetrics{Name: ctrs[i].name, Usage: resourceList(ctrs[i].cpu, ctrs[i].mem)}
	}
	return out, true
}

func (snap *snapshot) findPod(namespace, name string) *podUsage {
	lo, hi := 0, len(snap.pods)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		p := &snap.pods[m]
		r := strings.Compare(p.namespace, namespace)
		if r == 0 {
			r = strings.Compare(p.name, name)
		}
		switch r {
		case 0:
			return p
		case -1:
			lo = m + 1
		default:
			hi = m
		}
	}
	return nil
}

func resourceList(nanocores, bytes uint64) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewScaledQuantity(clampInt64(nanocores), resource.Nano),
		corev1.ResourceMemory: *resource.NewQuantity(clampInt64(bytes), resource.BinarySI),
	}
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
			snap := n.snap.Load()
			if snap == nil {
				continue
			}
			if !node && snap.nodeOK && now < snap.node.expiry {
				node = true
			}
			if !pod {
				for j := range snap.pods {
					if now < snap.pods[j].expiry {
						pod = true
						break
					}
				}
			}
			if node && pod {
				sh.mu.RUnlock()
				return true
			}
		}
		sh.mu.RUnlock()
	}
	return false
}
