package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
)

func writeResult(out string, r *result) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(out+".json", append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(out+".md", []byte(markdown(r)), 0o644)
}

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }

func ms(s float64) string {
	if math.IsNaN(s) {
		return "n/a"
	}
	if s >= 1 {
		return fmt.Sprintf("%.2f s", s)
	}
	return fmt.Sprintf("%.1f ms", s*1000)
}

// ratio is a/b formatted "4.2×", "n/a" when b is 0.
func ratio(a, b float64) string {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f×", a/b)
}

// markdown renders the report: one column per server, plus the ratio of the
// last server to the first when there are two (metrics-server / ours).
func markdown(r *result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Scale benchmark %s: %d nodes × %d pods × %d containers\n\n", r.Date, r.Nodes, r.PodsPerNode, r.ContainersPerPod)
	fmt.Fprintf(&b, "Resolution %s, %d cycles measured after warm-up, %d CPUs. Pods registered in the apiserver: %v.\n\n", r.Resolution, r.Cycles, r.CPUs, r.PodsRegistered)
	fmt.Fprintf(&b, "RSS and CPU are measured while the harness lists every NodeMetrics (JSON) three times a cycle for freshness; the rows \"no API client\" measure %d more cycles right after with no request to either server.\n\n", r.Cycles)
	if r.APIOthersPaused {
		fmt.Fprintf(&b, "API latencies are measured one server at a time, the other stopped (SIGSTOP) meanwhile, as if it were alone in the cluster.\n\n")
	}
	if r.Notes != "" {
		fmt.Fprintf(&b, "%s\n\n", r.Notes)
	}
	if r.PageFaultMicroseconds > 0 {
		fmt.Fprintf(&b, "A minor page fault (first write to a fresh 4 KiB page) cost %.1f µs on this machine, measured by the harness; a server whose heap grows by N pages spends N times that in the kernel.\n\n", r.PageFaultMicroseconds)
	}
	head := "| | " + names(r) + " |"
	if len(r.Servers) == 2 {
		head += " ratio |"
	}
	fmt.Fprintln(&b, head)
	fmt.Fprintln(&b, "|---"+strings.Repeat("|---", len(r.Servers))+map[bool]string{true: "|---|", false: "|"}[len(r.Servers) == 2])
	row := func(label string, val func(s serverResult) float64, format func(float64) string) {
		line := "| " + label + " |"
		var vals []float64
		for _, s := range r.Servers {
			v := val(s)
			vals = append(vals, v)
			line += " " + format(v) + " |"
		}
		if len(vals) == 2 {
			line += " " + ratio(vals[1], vals[0]) + " |"
		}
		fmt.Fprintln(&b, line)
	}
	f2 := func(v float64) string { return fmt.Sprintf("%.3f", v) }
	row("RSS mean", func(s serverResult) float64 { return s.RSSBytes.Mean }, mib)
	row("RSS max", func(s serverResult) float64 { return s.RSSBytes.Max }, mib)
	row("RSS peak since start (VmHWM)", func(s serverResult) float64 { return s.PeakRSSBytes }, mib)
	row("RSS per node (MiB)", func(s serverResult) float64 { return s.MiBPerNode }, f2)
	row("CPU seconds per cycle", func(s serverResult) float64 { return s.CPUSecondsPerCycle }, f2)
	row("mCPU per node", func(s serverResult) float64 { return s.MilliCPUPerNode }, f2)
	row("RSS per node, no API client (MiB)", func(s serverResult) float64 { return s.NoClients.MiBPerNode }, f2)
	row("mCPU per node, no API client", func(s serverResult) float64 { return s.NoClients.MilliCPUPerNode }, f2)
	scrape := func(v func(s serverResult) float64) func(s serverResult) float64 {
		return func(s serverResult) float64 {
			if s.ScrapeSeconds.Count == 0 {
				return math.NaN() // not measured
			}
			return v(s)
		}
	}
	row("scrape p50", scrape(func(s serverResult) float64 { return s.ScrapeSeconds.P50 }), ms)
	row("scrape p99", scrape(func(s serverResult) float64 { return s.ScrapeSeconds.P99 }), ms)
	row("scrapes in window", func(s serverResult) float64 { return s.ScrapeSeconds.Count }, func(v float64) string { return fmt.Sprintf("%.0f", v) })
	row("freshness p50", func(s serverResult) float64 { return s.FreshnessSeconds.P50 }, ms)
	row("freshness p99", func(s serverResult) float64 { return s.FreshnessSeconds.P99 }, ms)
	row("freshness max", func(s serverResult) float64 { return s.FreshnessSeconds.Max }, ms)
	row("nodes served (min)", func(s serverResult) float64 { return float64(s.NodesServedMin) }, func(v float64) string { return fmt.Sprintf("%.0f", v) })
	if r.PodsRegistered {
		row("get PodMetrics p50", func(s serverResult) float64 { return s.GetPodSeconds.P50 }, ms)
		row("get PodMetrics p99", func(s serverResult) float64 { return s.GetPodSeconds.P99 }, ms)
		row("get errors", func(s serverResult) float64 { return float64(s.GetPodErrors) }, func(v float64) string { return fmt.Sprintf("%.0f", v) })
		// a share the harness could not read (-1) is n/a, in its ratio too
		share := func(v func(s serverResult) float64) func(s serverResult) float64 {
			return func(s serverResult) float64 {
				if v(s) < 0 {
					return math.NaN()
				}
				return v(s)
			}
		}
		percent := func(v float64) string {
			if math.IsNaN(v) {
				return "n/a"
			}
			return fmt.Sprintf("%.2f %%", 100*v)
		}
		row("gets the server timed at ≤ 5 ms", share(func(s serverResult) float64 { return s.GetPodServedWithin5ms }), percent)
		if rate := r.Servers[0].GetRate; rate > 0 {
			row(fmt.Sprintf("get PodMetrics p50 at %.0f/s (open loop)", rate), func(s serverResult) float64 { return s.GetPodRateSeconds.P50 }, ms)
			row(fmt.Sprintf("get PodMetrics p99 at %.0f/s (open loop)", rate), func(s serverResult) float64 { return s.GetPodRateSeconds.P99 }, ms)
			row("gets the server timed at ≤ 5 ms (open loop)", share(func(s serverResult) float64 { return s.GetPodRateServedWithin5ms }), percent)
			row("get errors (open loop)", func(s serverResult) float64 { return float64(s.GetPodRateErrors) }, func(v float64) string { return fmt.Sprintf("%.0f", v) })
		}
		row("list all pods p50", func(s serverResult) float64 { return s.ListPodsSeconds.P50 }, ms)
		row("list all pods p99", func(s serverResult) float64 { return s.ListPodsSeconds.P99 }, ms)
		row("first list all pods", func(s serverResult) float64 { return s.ListPodsFirstSeconds }, ms)
		faults := func(v float64) string {
			if v < 0 {
				return "n/a"
			}
			return fmt.Sprintf("%.0f", v)
		}
		row("page faults serving the first list", func(s serverResult) float64 { return s.ListPodsFirstFaults }, faults)
		row("page faults per list after it", func(s serverResult) float64 { return s.ListPodsLaterFaults }, faults)
		row("list errors", func(s serverResult) float64 { return float64(s.ListPodsErrors) }, func(v float64) string { return fmt.Sprintf("%.0f", v) })
		row("list response size", func(s serverResult) float64 { return float64(s.ListPodsBytes) }, func(v float64) string { return fmt.Sprintf("%.0f KiB", v/1024) })
		row("RSS max under API load", func(s serverResult) float64 { return s.RSSUnderLoadBytes.Max }, mib)
	}
	row("warm-up (s)", func(s serverResult) float64 { return s.WarmupSeconds }, func(v float64) string { return fmt.Sprintf("%.0f", v) })
	fmt.Fprintln(&b)
	for _, s := range r.Servers {
		if s.ListContentType != "" {
			fmt.Fprintf(&b, "- %s %s: list served as `%s`\n", s.Name, s.Version, s.ListContentType)
		} else {
			fmt.Fprintf(&b, "- %s %s\n", s.Name, s.Version)
		}
	}
	if len(r.Others) > 0 {
		fmt.Fprintf(&b, "\nOther processes during the measured cycles:\n\n| process | RSS mean | RSS max | CPU s/cycle |\n|---|---|---|---|\n")
		for _, o := range r.Others {
			fmt.Fprintf(&b, "| %s | %s | %s | %.2f |\n", o.Name, mib(o.RSSBytes.Mean), mib(o.RSSBytes.Max), o.CPUSecondsPerCycle)
		}
	}
	return b.String()
}

func names(r *result) string {
	var n []string
	for _, s := range r.Servers {
		n = append(n, s.Name)
	}
	return strings.Join(n, " | ")
}
