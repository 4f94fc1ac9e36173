package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// startSim runs one more kubelet-sim process with its own nodes, flags as in
// hack/lib/stack.sh, and returns when its nodes are registered and serving.
// The process ends with the test or when stop is called; SIGTERM makes it
// delete its nodes (unless --delete-nodes-on-exit=false), as a node going away does.
func startSim(t *testing.T, prefix string, nodes int, addressBase string, extra ...string) (stop func()) {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	args := append([]string{
		"--kubeconfig", env.kubeconfig,
		"--nodes", fmt.Sprint(nodes), "--node-prefix", prefix, "--address-base", addressBase,
		"--cert-dir", filepath.Join(env.simDir, "pki"), "--ca-out", filepath.Join(t.TempDir(), "ca.crt"),
		"--client-ca", filepath.Join(env.pkiDir, "ca.crt"),
		"--ready-file", ready,
		"--scheduler-name", "none", // only the pods a test places on these nodes
	}, extra...)
	p := startProcess(t, prefix, filepath.Join(env.binDir, "kubelet-sim"), args...)
	eventually(t, 60*time.Second, prefix+" serving", func() error {
		_, err := os.Stat(ready)
		return err
	})
	return p.stop
}

// TestNewNodeAppearsAndIsMetered starts a node with one known pod while the
// server runs: kubectl top node must show it within two resolutions of its
// registration, with CPU and memory equal to its pod plus the simulator's
// node overhead (50m, 256Mi).
func TestNewNodeAppearsAndIsMetered(t *testing.T) {
	ns := newNamespace(t, "e2e-solo")
	registered := time.Now()
	startSim(t, "e2e-solo", 1, env.net+".30.1")
	p := simPod(ns, "solo", nil, map[string]string{annCPU: "300m", annMemory: "100Mi"}, "app")
	p.Spec.NodeName = "e2e-solo-0"
	createPod(t, p)

	var out string
	eventually(t, 2*env.resolution, "kubectl top node e2e-solo-0", func() error {
		var err error
		out, err = kubectl("top", "node", "e2e-solo-0")
		return err
	})
	t.Logf("node metered %s after registration", time.Since(registered).Round(100*time.Millisecond))
	// The pod was created just after the node: wait until the node's rate
	// covers a window in which the pod ran all along, then compare exactly.
	eventually(t, 3*env.resolution, "node usage includes its pod", func() error {
		var err error
		if out, err = kubectl("top", "node", "e2e-solo-0"); err != nil {
			return err
		}
		r := parseTop(t, out, 1)
		if len(r) != 1 || r[0].milliCPU < 349 || r[0].milliCPU > 351 || r[0].memoryMiB != 356 {
			return fmt.Errorf("want 350m 356Mi:\n%s", out)
		}
		return nil
	})
	out, err := kubectl("top", "node")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"e2e-node-0", "e2e-node-1", "e2e-node-2", "e2e-solo-0"} {
		if !strings.Contains(out, name) {
			t.Errorf("kubectl top node lacks %s:\n%s", name, out)
		}
	}
}

// TestDeletedNodeDisappears deletes a node object: its metrics must go
// within two resolutions (the informer stops the node's scrape loop).
func TestDeletedNodeDisappears(t *testing.T) {
	startSim(t, "e2e-gone", 1, env.net+".31.1", "--delete-nodes-on-exit=false")
	eventually(t, 2*env.resolution, "node e2e-gone-0 metered", func() error {
		_, err := env.metricsJSON.MetricsV1beta1().NodeMetricses().Get(context.Background(), "e2e-gone-0", metav1.GetOptions{})
		return err
	})
	if err := env.kube.CoreV1().Nodes().Delete(context.Background(), "e2e-gone-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*env.resolution, "node e2e-gone-0 gone from metrics", func() error {
		_, err := env.metricsJSON.MetricsV1beta1().NodeMetricses().Get(context.Background(), "e2e-gone-0", metav1.GetOptions{})
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("still served (err %v)", err)
	})
}
