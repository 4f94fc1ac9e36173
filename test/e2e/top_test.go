package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// topRow is one line of `kubectl top`: the leading name columns, then CPU in
// millicores and memory in MiB.
type topRow struct {
	names     []string
	milliCPU  int64
	memoryMiB int64
}

// parseTop reads `kubectl top` output; nameCols is how many columns precede
// CPU (NAME; NAMESPACE NAME; POD NAME).
func parseTop(t *testing.T, out string, nameCols int) []topRow {
	t.Helper()
	var rows []topRow
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < nameCols+2 {
			continue // header
		}
		cpu, err := strconv.ParseInt(strings.TrimSuffix(f[nameCols], "m"), 10, 64)
		if err != nil || !strings.HasSuffix(f[nameCols], "m") {
			t.Fatalf("cpu column %q in %q", f[nameCols], line)
		}
		// kubectl top node has CPU(%) between CPU and MEMORY
		memCol := nameCols + 1
		if strings.HasSuffix(f[memCol], "%") {
			memCol++
		}
		mem, err := strconv.ParseInt(strings.TrimSuffix(f[memCol], "Mi"), 10, 64)
		if err != nil || !strings.HasSuffix(f[memCol], "Mi") {
			t.Fatalf("memory column %q in %q", f[memCol], line)
		}
		rows = append(rows, topRow{names: f[:nameCols], milliCPU: cpu, memoryMiB: mem})
	}
	return rows
}

func rowNames(rows []topRow) []string {
	var names []string
	for _, r := range rows {
		names = append(names, strings.Join(r.names, "/"))
	}
	return names
}

// checkUsage compares a row with what kubelet-sim was told to serve. CPU may
// differ by 1m: kubectl rounds millicores up, and the rate of a counter sampled
// at millisecond timestamps lands within a nanocore-fraction of the target.
func checkUsage(t *testing.T, r topRow, milliCPU, memoryMiB int64) {
	t.Helper()
	if d := r.milliCPU - milliCPU; d < -1 || d > 1 {
		t.Errorf("%v: cpu %dm, simulator served %dm", r.names, r.milliCPU, milliCPU)
	}
	if r.memoryMiB != memoryMiB {
		t.Errorf("%v: memory %dMi, simulator served %dMi", r.names, r.memoryMiB, memoryMiB)
	}
}

func TestKubectlTopPod(t *testing.T) {
	ns := newNamespace(t, "e2e-top")
	createPod(t, simPod(ns, "web-1", map[string]string{"app": "web"},
		map[string]string{annCPU: "250m", annMemory: "64Mi"}, "nginx"))
	createPod(t, simPod(ns, "web-2", map[string]string{"app": "web"},
		map[string]string{annCPU: "100m", annMemory: "32Mi"}, "nginx"))
	api := simPod(ns, "api", map[string]string{"app": "api"},
		map[string]string{annUsage: `{"api":{"cpu":"300m","memory":"128Mi"},"envoy":{"cpu":"50m","memory":"16Mi"}}`}, "api")
	always := corev1.ContainerRestartPolicyAlways
	api.Spec.InitContainers = []corev1.Container{{Name: "envoy", Image: "envoyproxy/envoy", RestartPolicy: &always}}
	createPod(t, api)
	for _, name := range []string{"web-1", "web-2", "api"} {
		runningPod(t, ns, name)
	}

	// The first values served must already be right: wait only for presence.
	var out string
	eventually(t, 4*env.resolution+10*time.Second, "kubectl top pod lists all three pods", func() error {
		var err error
		if out, err = kubectl("top", "pod", "-n", ns); err != nil {
			return err
		}
		if n := len(parseTop(t, out, 1)); n != 3 {
			return fmt.Errorf("%d rows:\n%s", n, out)
		}
		return nil
	})
	want := map[string][2]int64{"web-1": {250, 64}, "web-2": {100, 32}, "api": {350, 144}}
	for _, r := range parseTop(t, out, 1) {
		w := want[r.names[0]]
		checkUsage(t, r, w[0], w[1])
	}

	t.Run("sort-by=cpu", func(t *testing.T) {
		out, err := kubectl("top", "pod", "-n", ns, "--sort-by=cpu")
		if err != nil {
			t.Fatal(err)
		}
		if got := rowNames(parseTop(t, out, 1)); !slices.Equal(got, []string{"api", "web-1", "web-2"}) {
			t.Errorf("order %v", got)
		}
	})
	t.Run("label selector", func(t *testing.T) {
		out, err := kubectl("top", "pod", "-n", ns, "-l", "app=web")
		if err != nil {
			t.Fatal(err)
		}
		got := rowNames(parseTop(t, out, 1))
		slices.Sort(got)
		if !slices.Equal(got, []string{"web-1", "web-2"}) {
			t.Errorf("pods %v", got)
		}
	})
	t.Run("containers include the native sidecar", func(t *testing.T) {
		out, err := kubectl("top", "pod", "api", "-n", ns, "--containers")
		if err != nil {
			t.Fatal(err)
		}
		rows := parseTop(t, out, 2)
		if got := rowNames(rows); !slices.Equal(got, []string{"api/api", "api/envoy"}) {
			t.Fatalf("containers %v:\n%s", got, out)
		}
		checkUsage(t, rows[0], 300, 128)
		checkUsage(t, rows[1], 50, 16)
	})
	t.Run("all namespaces", func(t *testing.T) {
		out, err := kubectl("top", "pod", "-A")
		if err != nil {
			t.Fatal(err)
		}
		got := rowNames(parseTop(t, out, 2))
		for _, want := range []string{ns + "/web-1", ns + "/api", "kube-system/baseline"} {
			if !slices.Contains(got, want) {
				t.Errorf("%s missing from %v", want, got)
			}
		}
	})
}

func TestKubectlGetTables(t *testing.T) {
	for _, args := range [][]string{{"get", "nodemetrics"}, {"get", "podmetrics", "-A"}} {
		out, err := kubectl(args...)
		if err != nil {
			t.Fatal(err)
		}
		header := strings.Fields(strings.SplitN(out, "\n", 2)[0])
		want := []string{"NAME", "CPU", "MEMORY", "WINDOW"}
		if args[1] == "podmetrics" {
			want = append([]string{"NAMESPACE"}, want...)
		}
		if !slices.Equal(header, want) {
			t.Errorf("kubectl %s: header %v, want %v", strings.Join(args, " "), header, want)
		}
		if strings.Count(out, "\n") < 2 {
			t.Errorf("kubectl %s: no rows:\n%s", strings.Join(args, " "), out)
		}
	}
}
