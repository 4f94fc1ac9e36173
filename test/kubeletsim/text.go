package kubeletsim

import (
	"math"
	"strconv"
)

// Metric names and HELP/TYPE headers as a v1.33 kubelet prints them.
const (
	nameContainerCPU    = "container_cpu_usage_seconds_total"
	nameContainerMemory = "container_memory_working_set_bytes"
	nameContainerStart  = "container_start_time_seconds"
	nameContainerSwap   = "container_swap_usage_bytes"
	nameNodeCPU         = "node_cpu_usage_seconds_total"
	nameNodeMemory      = "node_memory_working_set_bytes"
	nameNodeSwap        = "node_swap_usage_bytes"
	namePodCPU          = "pod_cpu_usage_seconds_total"
	namePodMemory       = "pod_memory_working_set_bytes"
	namePodSwap         = "pod_swap_usage_bytes"
	nameScrapeError     = "resource_scrape_error"

	headerContainerCPU = "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds\n" +
		"# TYPE container_cpu_usage_seconds_total counter\n"
	headerContainerMemory = "# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes\n" +
		"# TYPE container_memory_working_set_bytes gauge\n"
	headerContainerStart = "# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds\n" +
		"# TYPE container_start_time_seconds gauge\n"
	headerContainerSwap = "# HELP container_swap_usage_bytes [ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems\n" +
		"# TYPE container_swap_usage_bytes gauge\n"
	headerNodeCPU = "# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds\n" +
		"# TYPE node_cpu_usage_seconds_total counter\n"
	headerNodeMemory = "# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes\n" +
		"# TYPE node_memory_working_set_bytes gauge\n"
	headerNodeSwap = "# HELP node_swap_usage_bytes [ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems\n" +
		"# TYPE node_swap_usage_bytes gauge\n"
	headerPodCPU = "# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in core-seconds\n" +
		"# TYPE pod_cpu_usage_seconds_total counter\n"
	headerPodMemory = "# HELP pod_memory_working_set_bytes [STABLE] Current working set of the pod in bytes\n" +
		"# TYPE pod_memory_working_set_bytes gauge\n"
	headerPodSwap = "# HELP pod_swap_usage_bytes [ALPHA] Current amount of the pod swap usage in bytes. Reported only on non-windows systems\n" +
		"# TYPE pod_swap_usage_bytes gauge\n"
	headerScrapeError = "# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise\n" +
		"# TYPE resource_scrape_error gauge\n"
)

// appendSample appends `name{labels value ms\n`; labels already ends with
// '}'. A negative ms leaves the timestamp out. No labels: pass nil.
func appendSample(dst []byte, name string, labels []byte, v float64, ms int64) []byte {
	dst = append(dst, name...)
	if labels != nil {
		dst = append(dst, '{')
		dst = append(dst, labels...)
	}
	dst = append(dst, ' ')
	dst = appendFloat(dst, v)
	if ms >= 0 {
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, ms, 10)
	}
	return append(dst, '\n')
}

// appendFloat formats like the Prometheus text encoder.
func appendFloat(dst []byte, v float64) []byte {
	switch {
	case v == 1:
		return append(dst, '1')
	case v == 0:
		return append(dst, '0')
	case v == -1:
		return append(dst, "-1"...)
	case math.IsNaN(v):
		return append(dst, "NaN"...)
	case math.IsInf(v, +1):
		return append(dst, "+Inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-Inf"...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

// appendNode appends the three node_* families.
func appendNode(dst []byte, cpuSeconds, workingSet float64, ms int64) []byte {
	dst = append(dst, headerNodeCPU...)
	dst = appendSample(dst, nameNodeCPU, nil, cpuSeconds, ms)
	dst = append(dst, headerNodeMemory...)
	dst = appendSample(dst, nameNodeMemory, nil, workingSet, ms)
	dst = append(dst, headerNodeSwap...)
	return appendSample(dst, nameNodeSwap, nil, 0, ms)
}

func appendScrapeError(dst []byte, failed bool) []byte {
	dst = append(dst, headerScrapeError...)
	v := 0.0
	if failed {
		v = 1
	}
	return appendSample(dst, nameScrapeError, nil, v, -1)
}

func appendContainerLabels(dst []byte, container, namespace, pod string) []byte {
	dst = append(dst, `container="`...)
	dst = appendLabelValue(dst, container)
	dst = append(dst, `",`...)
	return appendPodLabels(dst, namespace, pod)
}

func appendPodLabels(dst []byte, namespace, pod string) []byte {
	dst = append(dst, `namespace="`...)
	dst = appendLabelValue(dst, namespace)
	dst = append(dst, `",pod="`...)
	dst = appendLabelValue(dst, pod)
	return append(dst, `"}`...)
}

// appendLabelValue escapes \, " and newline as the text format requires.
func appendLabelValue(dst []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			dst = append(dst, `\\`...)
		case '"':
			dst = append(dst, `\"`...)
		case '\n':
			dst = append(dst, `\n`...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
