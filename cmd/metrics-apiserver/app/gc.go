package app

import (
	"runtime/debug"

	"k8s.io/klog/v2"
)

// defaultGCPercent is the garbage collector's growth target when GOGC is not
// set. Almost all of this server's heap is long-lived state (kubelet
// connections, series, the pod index) and a scrape allocates little, so
// collecting at 50 % growth instead of Go's 100 % costs little CPU and keeps
// resident memory lower (docs/benchmarks/README.md has both numbers).
// Prometheus lowered its default for the same reason.
const defaultGCPercent = 50

// tuneGC applies defaultGCPercent unless the environment sets GOGC (which the
// Go runtime has then already applied).
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(defaultGCPercent)
	klog.V(1).InfoS("Garbage collector target set; GOGC in the environment overrides it", "GOGC", defaultGCPercent)
}
