package kubeletsim

import (
	"time"
)

// Names of the pod the simulator creates on the real node.
const (
	SelfPodNamespace = "kube-system"
	SelfPodName      = "kubelet-sim-self"
	SelfContainer    = "kubelet-sim"
)

// HostSample is one reading of this machine's real usage.
type HostSample struct {
	// Time is when the values were read.
	Time time.Time
	// NodeCPUNanoseconds is the machine's cumulative CPU time.
	NodeCPUNanoseconds uint64
	// NodeWorkingSetBytes is the machine's memory working set.
	NodeWorkingSetBytes uint64
	// SelfCPUNanoseconds and SelfWorkingSetBytes are the simulator
	// process's own (its cgroup's) usage.
	SelfCPUNanoseconds  uint64
	SelfWorkingSetBytes uint64
}

// HostStatsSource reads this machine's usage for the real node. The
// implementation backed by cAdvisor lives in package hoststats, so that this
// package does not depend on cAdvisor.
type HostStatsSource interface {
	Sample() (HostSample, error)
	// Capacity returns the machine's CPU count and memory size.
	Capacity() (cpus int, memoryBytes uint64)
}

// realNodeMetrics renders the real node: the machine's own numbers and one
// pod, the simulator itself.
type realNodeMetrics struct {
	src     HostStatsSource
	start   float64 // the simulator's start, unix seconds
	cLabels []byte
	pLabels []byte
}

func newRealNodeMetrics(src HostStatsSource, start time.Time) *realNodeMetrics {
	return &realNodeMetrics{
		src:     src,
		start:   float64(start.UnixNano()) / 1e9,
		cLabels: appendContainerLabels(nil, SelfContainer, SelfPodNamespace, SelfPodName),
		pLabels: appendPodLabels(nil, SelfPodNamespace, SelfPodName),
	}
}

// AppendText appends the real node's payload; now is unused, samples carry
// the time they were read at. A failed read yields resource_scrape_error 1
// and nothing else, as the kubelet does.
func (r *realNodeMetrics) AppendText(dst []byte, _ time.Time) []byte {
	s, err := r.src.Sample()
	if err != nil {
		return appendScrapeError(dst, true)
	}
	ms := s.Time.UnixMilli()
	selfCPU := nanosToSeconds(s.SelfCPUNanoseconds)
	selfMem := float64(s.SelfWorkingSetBytes)
	dst = append(dst, headerContainerCPU...)
	dst = appendSample(dst, nameContainerCPU, r.cLabels, selfCPU, ms)
	dst = append(dst, headerContainerMemory...)
	dst = appendSample(dst, nameContainerMemory, r.cLabels, selfMem, ms)
	dst = append(dst, headerContainerStart...)
	dst = appendSample(dst, nameContainerStart, r.cLabels, r.start, -1)
	dst = append(dst, headerContainerSwap...)
	dst = appendSample(dst, nameContainerSwap, r.cLabels, 0, ms)
	dst = appendNode(dst, nanosToSeconds(s.NodeCPUNanoseconds), float64(s.NodeWorkingSetBytes), ms)
	dst = append(dst, headerPodCPU...)
	dst = appendSample(dst, namePodCPU, r.pLabels, selfCPU, ms)
	dst = append(dst, headerPodMemory...)
	dst = appendSample(dst, namePodMemory, r.pLabels, selfMem, ms)
	dst = append(dst, headerPodSwap...)
	dst = appendSample(dst, namePodSwap, r.pLabels, 0, ms)
	return appendScrapeError(dst, false)
}
