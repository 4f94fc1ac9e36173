//go:build linux

package hoststats

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/cadvisor/lib/container"
	"github.com/google/cadvisor/lib/container/common"
	"github.com/google/cadvisor/lib/container/libcontainer"
	"github.com/google/cadvisor/lib/machine"
	info "github.com/google/cadvisor/lib/model"
	"github.com/opencontainers/cgroups"
	"k8s.io/klog/v2"

	"github.com/metrics-apiserver/metrics-apiserver/test/kubeletsim"
)

// statsReader is what Reader needs of cAdvisor's libcontainer handler.
type statsReader interface {
	GetStats() (*info.ContainerStats, error)
}

// Reader reads the machine's and the simulator's own usage. It is safe for
// concurrent use.
type Reader struct {
	mu sync.Mutex // cAdvisor's handler keeps state between calls

	root statsReader // nil: /proc fallback
	self statsReader // nil: process fallback for both
	// selfCPUFromProcess / selfMemFromProcess: the process is in the root
	// cgroup of that controller, so the cgroup would be the whole machine.
	selfCPUFromProcess bool
	selfMemFromProcess bool

	procDir     string
	cpus        int
	memCapacity uint64
	describe    string
}

var _ kubeletsim.HostStatsSource = (*Reader)(nil)

var included = container.MetricSet{
	container.CpuUsageMetrics:    struct{}{},
	container.MemoryUsageMetrics: struct{}{},
}

// New finds the root cgroup and the process's own cgroup and checks that
// they can be read; whatever cannot falls back as the package doc says.
func New() (*Reader, error) {
	r := &Reader{procDir: "/proc", cpus: runtime.NumCPU()}
	var notes []string

	mem, err := machine.GetMachineMemoryCapacity()
	if err != nil {
		return nil, fmt.Errorf("machine memory: %w", err)
	}
	r.memCapacity = mem

	mounts, err := libcontainer.GetCgroupSubsystems(included)
	if err != nil {
		notes = append(notes, "no cgroup mounts ("+err.Error()+"): node from /proc, self from the process")
	} else {
		r.root, err = newHandler("/", common.MakeCgroupPaths(mounts, "/"))
		if err != nil {
			notes = append(notes, "root cgroup unreadable ("+err.Error()+"): node from /proc")
			r.root = nil
		}
		selfPaths, cpuRoot, memRoot, err := selfCgroupPaths(mounts)
		r.selfCPUFromProcess, r.selfMemFromProcess = cpuRoot, memRoot
		if err == nil && !(cpuRoot && memRoot) {
			r.self, err = newHandler("kubelet-sim", selfPaths)
		}
		switch {
		case err != nil:
			notes = append(notes, "own cgroup unreadable ("+err.Error()+"): self from the process")
			r.self, r.selfCPUFromProcess, r.selfMemFromProcess = nil, true, true
		case cpuRoot || memRoot:
			notes = append(notes, fmt.Sprintf("process in the root cgroup (cpu: %v, memory: %v): those from the process", cpuRoot, memRoot))
		}
	}
	mode := "cgroup v1"
	if cgroups.IsCgroup2UnifiedMode() {
		mode = "cgroup v2"
	}
	r.describe = mode
	if len(notes) > 0 {
		r.describe += "; " + strings.Join(notes, "; ")
	}
	if _, err := r.Sample(); err != nil {
		return nil, err
	}
	klog.InfoS("Reading host stats", "sources", r.describe, "cpus", r.cpus, "memory", r.memCapacity)
	return r, nil
}

func newHandler(name string, paths map[string]string) (statsReader, error) {
	mgr, err := libcontainer.NewCgroupManager(name, paths)
	if err != nil {
		return nil, err
	}
	h := libcontainer.NewHandler(mgr, "/", 0, included)
	if _, err := h.GetStats(); err != nil {
		return nil, err
	}
	return h, nil
}

// selfCgroupPaths maps each controller to the process's own cgroup
// directory, and tells whether the process sits in the root cgroup of the
// CPU and memory controllers.
func selfCgroupPaths(mounts map[string]string) (paths map[string]string, cpuRoot, memRoot bool, err error) {
	own, err := cgroups.ParseCgroupFile("/proc/self/cgroup")
	if err != nil {
		return nil, false, false, err
	}
	paths = map[string]string{}
	if cgroups.IsCgroup2UnifiedMode() {
		p := own[""]
		paths[""] = filepath.Join(mounts[""], p)
		return paths, p == "/", p == "/", nil
	}
	for subsys, mnt := range mounts {
		if p, ok := own[subsys]; ok {
			paths[subsys] = filepath.Join(mnt, p)
		}
	}
	isRoot := func(subsys string) bool { p, ok := own[subsys]; return !ok || p == "/" }
	return paths, isRoot("cpuacct") && isRoot("cpu"), isRoot("memory"), nil
}

// Describe says where the numbers come from.
func (r *Reader) Describe() string { return r.describe }

// Capacity returns the CPU count and memory size of the machine.
func (r *Reader) Capacity() (int, uint64) { return r.cpus, r.memCapacity }

// Sample reads the machine's and the process's usage now.
func (r *Reader) Sample() (kubeletsim.HostSample, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := kubeletsim.HostSample{Time: time.Now()}
	var errs []error

	if r.root != nil {
		if st, err := r.root.GetStats(); err == nil {
			s.NodeCPUNanoseconds, s.NodeWorkingSetBytes = st.Cpu.Usage.Total, st.Memory.WorkingSet
		} else {
			errs = append(errs, fmt.Errorf("root cgroup: %w", err))
		}
	} else {
		data, err := os.ReadFile(filepath.Join(r.procDir, "stat"))
		if err == nil {
			s.NodeCPUNanoseconds, err = parseProcStatCPU(data)
		}
		errs = append(errs, err)
		data, err = os.ReadFile(filepath.Join(r.procDir, "meminfo"))
		if err == nil {
			s.NodeWorkingSetBytes, err = parseMeminfoWorkingSet(data)
		}
		errs = append(errs, err)
	}

	if r.self != nil {
		if st, err := r.self.GetStats(); err == nil {
			s.SelfCPUNanoseconds, s.SelfWorkingSetBytes = st.Cpu.Usage.Total, st.Memory.WorkingSet
		} else {
			errs = append(errs, fmt.Errorf("own cgroup: %w", err))
		}
	}
	if r.self == nil || r.selfCPUFromProcess {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
			s.SelfCPUNanoseconds = uint64(ru.Utime.Nano() + ru.Stime.Nano())
		} else {
			errs = append(errs, fmt.Errorf("getrusage: %w", err))
		}
	}
	if r.self == nil || r.selfMemFromProcess {
		data, err := os.ReadFile(filepath.Join(r.procDir, "self", "statm"))
		if err == nil {
			s.SelfWorkingSetBytes, err = parseStatmRSS(data, os.Getpagesize())
		}
		errs = append(errs, err)
	}
	return s, errors.Join(errs...)
}
