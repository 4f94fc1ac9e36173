package kubeletsim

import (
	"encoding/json"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Pod annotations read by the simulator.
const (
	// AnnotationCPU is the CPU usage of every container of the pod, as a
	// quantity ("250m", "1.5").
	AnnotationCPU = "kubelet-sim.metrics-apiserver.io/cpu"
	// AnnotationMemory is the working set of every container of the pod, as a
	// quantity ("64Mi").
	AnnotationMemory = "kubelet-sim.metrics-apiserver.io/memory"
	// AnnotationUsage overrides usage per container, as JSON:
	// {"<container>":{"cpu":"100m","memory":"32Mi"}}. Either field may be
	// left out; it then falls back to AnnotationCPU/AnnotationMemory and then
	// to the default.
	AnnotationUsage = "kubelet-sim.metrics-apiserver.io/usage"
	// AnnotationRestartGeneration restarts every container of the pod when its
	// value changes.
	AnnotationRestartGeneration = "kubelet-sim.metrics-apiserver.io/restart-generation"
	// AnnotationResourceMetricsPath is the Node annotation some simulators use
	// to announce where the resource metrics are served.
	AnnotationResourceMetricsPath = "metrics.k8s.io/resource-metrics-path"
)

// Usage is what one container (or a node's system overhead) consumes.
type Usage struct {
	// NanoCores is the CPU rate in billionths of a core.
	NanoCores int64
	// MemoryBytes is the working set.
	MemoryBytes int64
}

// DefaultContainerUsage is used for containers that no annotation describes.
var DefaultContainerUsage = Usage{NanoCores: 10 * 1000 * 1000, MemoryBytes: 16 << 20}

type usageOverride struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

// ContainerUsages returns the usage of each named container as the pod's
// annotations describe it, falling back to def. Invalid values are reported
// in the error and replaced by the fallback; the returned slice is always
// complete and parallel to containers.
func ContainerUsages(annotations map[string]string, containers []string, def Usage) ([]Usage, error) {
	var errs []error
	podUsage := def
	if v, ok := annotations[AnnotationCPU]; ok {
		if nc, err := parseCPU(v); err != nil {
			errs = append(errs, fmt.Errorf("annotation %s: %w", AnnotationCPU, err))
		} else {
			podUsage.NanoCores = nc
		}
	}
	if v, ok := annotations[AnnotationMemory]; ok {
		if b, err := parseMemory(v); err != nil {
			errs = append(errs, fmt.Errorf("annotation %s: %w", AnnotationMemory, err))
		} else {
			podUsage.MemoryBytes = b
		}
	}
	var overrides map[string]usageOverride
	if v, ok := annotations[AnnotationUsage]; ok && v != "" {
		if err := json.Unmarshal([]byte(v), &overrides); err != nil {
			errs = append(errs, fmt.Errorf("annotation %s: %w", AnnotationUsage, err))
			overrides = nil
		}
	}
	out := make([]Usage, len(containers))
	for i, name := range containers {
		u := podUsage
		if o, ok := overrides[name]; ok {
			if o.CPU != "" {
				if nc, err := parseCPU(o.CPU); err != nil {
					errs = append(errs, fmt.Errorf("annotation %s, container %q: %w", AnnotationUsage, name, err))
				} else {
					u.NanoCores = nc
				}
			}
			if o.Memory != "" {
				if b, err := parseMemory(o.Memory); err != nil {
					errs = append(errs, fmt.Errorf("annotation %s, container %q: %w", AnnotationUsage, name, err))
				} else {
					u.MemoryBytes = b
				}
			}
		}
		out[i] = u
	}
	return out, errors.Join(errs...)
}

func parseCPU(s string) (int64, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0, err
	}
	if q.Sign() < 0 {
		return 0, fmt.Errorf("negative cpu %q", s)
	}
	return q.ScaledValue(resource.Nano), nil
}

func parseMemory(s string) (int64, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0, err
	}
	if q.Sign() < 0 {
		return 0, fmt.Errorf("negative memory %q", s)
	}
	return q.Value(), nil
}
