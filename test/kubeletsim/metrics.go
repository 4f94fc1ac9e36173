package kubeletsim

import (
	"math"
	"math/bits"
	"sort"
	"sync"
	"time"
)

// cpuCounter is a cumulative CPU counter integrated piecewise: between two
// rate changes it grows linearly, so a rate change never makes it jump.
type cpuCounter struct {
	acc   uint64 // CPU nanoseconds accumulated up to since
	since int64  // unix nanoseconds
	rate  int64  // nanocores
}

// at returns the counter in CPU nanoseconds at t (unix nanoseconds).
func (c *cpuCounter) at(t int64) uint64 {
	if t <= c.since || c.rate <= 0 {
		return c.acc
	}
	hi, lo := bits.Mul64(uint64(c.rate), uint64(t-c.since))
	if hi >= 1e9 { // would overflow: centuries at thousands of cores
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, 1e9)
	return c.acc + q
}

// setRate changes the rate from t on.
func (c *cpuCounter) setRate(t int64, rate int64) {
	if t > c.since {
		c.acc = c.at(t)
		c.since = t
	}
	c.rate = rate
}

// PodUsage describes one running pod to NodeMetrics.
type PodUsage struct {
	Namespace string
	Name      string
	// StartTime is when the pod started; its CPU counter counts from here.
	StartTime  time.Time
	Containers []ContainerUsage
}

// ContainerUsage describes one running container of a pod.
type ContainerUsage struct {
	Name string
	// StartTime is the container's last (re)start; when it changes, the
	// container's CPU counter starts over from 0 at that time.
	StartTime time.Time
	Usage     Usage
}

type podKey struct{ namespace, name string }

type containerMetrics struct {
	name   string
	pod    *podMetrics
	labels []byte // container="..",namespace="..",pod=".."}
	start  int64
	cpu    cpuCounter
	mem    int64
}

type podMetrics struct {
	key        podKey
	labels     []byte // namespace="..",pod=".."}
	cpu        cpuCounter
	containers []*containerMetrics
}

func (p *podMetrics) memory() int64 {
	var m int64
	for _, c := range p.containers {
		m += c.mem
	}
	return m
}

// NodeMetrics is the simulated resource usage of one node: its pods, their
// containers and the node's own cumulative counter. It renders the kubelet's
// /metrics/resource text. It is safe for concurrent use.
//
// Counters are integrated piecewise over the rates it is told: a container's
// counter counts from its StartTime, a pod's counter from the pod's StartTime
// and across container restarts, and the node's counter from its boot time at
// the node's overhead rate plus the rates of its pods from when they were set.
type NodeMetrics struct {
	mu         sync.Mutex
	overhead   Usage
	cpu        cpuCounter
	pods       map[podKey]*podMetrics
	podList    []*podMetrics       // sorted by namespace, name
	containers []*containerMetrics // sorted by container, namespace, pod
	dirty      bool
}

// NewNodeMetrics returns a node that booted at boot and has no pods.
func NewNodeMetrics(boot time.Time, overhead Usage) *NodeMetrics {
	return &NodeMetrics{
		overhead: overhead,
		cpu:      cpuCounter{since: boot.UnixNano(), rate: overhead.NanoCores},
		pods:     map[podKey]*podMetrics{},
	}
}

// SetPod adds or updates a pod at now. Usage changes apply from now on;
// a container whose StartTime changed restarts its counter from 0.
func (n *NodeMetrics) SetPod(p PodUsage, now time.Time) {
	t := now.UnixNano()
	key := podKey{p.Namespace, p.Name}
	n.mu.Lock()
	defer n.mu.Unlock()
	pm, ok := n.pods[key]
	oldRate := int64(0)
	if !ok {
		pm = &podMetrics{
			key:    key,
			labels: appendPodLabels(nil, p.Namespace, p.Name),
			cpu:    cpuCounter{since: p.StartTime.UnixNano()},
		}
		n.pods[key] = pm
		n.dirty = true
	} else {
		oldRate = pm.cpu.rate
	}
	byName := make(map[string]*containerMetrics, len(pm.containers))
	for _, c := range pm.containers {
		byName[c.name] = c
	}
	next := make([]*containerMetrics, 0, len(p.Containers))
	var podRate int64
	for _, cu := range p.Containers {
		start := cu.StartTime.UnixNano()
		c, ok := byName[cu.Name]
		switch {
		case !ok:
			c = &containerMetrics{
				name:   cu.Name,
				pod:    pm,
				labels: appendContainerLabels(nil, cu.Name, p.Namespace, p.Name),
				start:  start,
				cpu:    cpuCounter{since: start, rate: cu.Usage.NanoCores},
			}
			n.dirty = true
		case c.start != start:
			c.start = start
			c.cpu = cpuCounter{since: start, rate: cu.Usage.NanoCores}
		default:
			c.cpu.setRate(t, cu.Usage.NanoCores)
		}
		delete(byName, cu.Name)
		c.mem = cu.Usage.MemoryBytes
		podRate += cu.Usage.NanoCores
		next = append(next, c)
	}
	if len(byName) > 0 {
		n.dirty = true
	}
	pm.containers = next
	if ok {
		pm.cpu.setRate(t, podRate)
	} else {
		pm.cpu.rate = podRate // a new pod has run at this rate since it started
	}
	n.cpu.setRate(t, n.cpu.rate-oldRate+podRate)
}

// DeletePod removes a pod at now; it reports whether the pod was known.
func (n *NodeMetrics) DeletePod(namespace, name string, now time.Time) bool {
	key := podKey{namespace, name}
	n.mu.Lock()
	defer n.mu.Unlock()
	pm, ok := n.pods[key]
	if !ok {
		return false
	}
	delete(n.pods, key)
	n.cpu.setRate(now.UnixNano(), n.cpu.rate-pm.cpu.rate)
	n.dirty = true
	return true
}

// Pods returns the number of pods.
func (n *NodeMetrics) Pods() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.pods)
}

// NodeUsage returns the node's cumulative CPU (nanoseconds) and working set
// at now.
func (n *NodeMetrics) NodeUsage(now time.Time) (cpuNanoseconds uint64, workingSetBytes int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cpu.at(now.UnixNano()), n.memoryLocked()
}

func (n *NodeMetrics) memoryLocked() int64 {
	m := n.overhead.MemoryBytes
	for _, p := range n.pods {
		m += p.memory()
	}
	return m
}

func (n *NodeMetrics) sortLocked() {
	if !n.dirty {
		return
	}
	n.podList = n.podList[:0]
	n.containers = n.containers[:0]
	for _, p := range n.pods {
		n.podList = append(n.podList, p)
		n.containers = append(n.containers, p.containers...)
	}
	sort.Slice(n.podList, func(i, j int) bool {
		a, b := n.podList[i].key, n.podList[j].key
		if a.namespace != b.namespace {
			return a.namespace < b.namespace
		}
		return a.name < b.name
	})
	sort.Slice(n.containers, func(i, j int) bool {
		a, b := n.containers[i], n.containers[j]
		if a.name != b.name {
			return a.name < b.name
		}
		if a.pod.key.namespace != b.pod.key.namespace {
			return a.pod.key.namespace < b.pod.key.namespace
		}
		return a.pod.key.name < b.pod.key.name
	})
	n.dirty = false
}

// AppendText appends the node's /metrics/resource payload at now to dst, in
// the kubelet's format: every sample carries now in milliseconds (except
// container_start_time_seconds and resource_scrape_error), and counters are
// evaluated at exactly that millisecond.
func (n *NodeMetrics) AppendText(dst []byte, now time.Time) []byte {
	ms := now.UnixMilli()
	t := ms * int64(time.Millisecond)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sortLocked()
	if len(n.containers) > 0 {
		dst = append(dst, headerContainerCPU...)
		for _, c := range n.containers {
			dst = appendSample(dst, nameContainerCPU, c.labels, nanosToSeconds(c.cpu.at(t)), ms)
		}
		dst = append(dst, headerContainerMemory...)
		for _, c := range n.containers {
			dst = appendSample(dst, nameContainerMemory, c.labels, float64(c.mem), ms)
		}
		dst = append(dst, headerContainerStart...)
		for _, c := range n.containers {
			dst = appendSample(dst, nameContainerStart, c.labels, float64(c.start)/1e9, -1)
		}
		dst = append(dst, headerContainerSwap...)
		for _, c := range n.containers {
			dst = appendSample(dst, nameContainerSwap, c.labels, 0, ms)
		}
	}
	dst = appendNode(dst, nanosToSeconds(n.cpu.at(t)), float64(n.memoryLocked()), ms)
	if len(n.podList) > 0 {
		dst = append(dst, headerPodCPU...)
		for _, p := range n.podList {
			dst = appendSample(dst, namePodCPU, p.labels, nanosToSeconds(p.cpu.at(t)), ms)
		}
		dst = append(dst, headerPodMemory...)
		for _, p := range n.podList {
			dst = appendSample(dst, namePodMemory, p.labels, float64(p.memory()), ms)
		}
		dst = append(dst, headerPodSwap...)
		for _, p := range n.podList {
			dst = appendSample(dst, namePodSwap, p.labels, 0, ms)
		}
	}
	return appendScrapeError(dst, false)
}

func nanosToSeconds(ns uint64) float64 {
	if ns < 1<<53 {
		return float64(ns) / 1e9 // exact operand, one rounding
	}
	return float64(ns/1e9) + float64(ns%1e9)/1e9
}
