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

// TestScaleSmoke is the 200-node version of the scale benchmark (make
// bench-scale): kubelet-sim in fleet mode registers 200 nodes with two
// bound pods of two containers each, and the running server must serve
// every one of those nodes and pods. It makes no timing assertion beyond
// generous bounds on how long the stack may take.
func TestScaleSmoke(t *testing.T) {
	const nodes, podsPerNode, prefix = 200, 2, "e2e-scale"
	ns := newNamespace(t, "e2e-scale")
	podsReady := filepath.Join(t.TempDir(), "pods")
	startSim(t, prefix, nodes, env.net+".100.1",
		"--kube-api-qps", "500", "--kube-api-burst", "1000", "--workers", "16",
		"--heartbeat-interval", "1m",
		"--fleet-pods-per-node", fmt.Sprint(podsPerNode), "--fleet-containers-per-pod", "2",
		"--fleet-namespace", ns, "--fleet-ready-file", podsReady)
	// Registered after startSim, so it runs before the simulator stops: pods
	// on deleted nodes would otherwise wait for a kubelet forever.
	t.Cleanup(func() {
		grace := int64(0)
		_ = env.kube.CoreV1().Pods(ns).DeleteCollection(context.Background(),
			metav1.DeleteOptions{GracePeriodSeconds: &grace}, metav1.ListOptions{})
	})
	eventually(t, 2*time.Minute, "every fleet pod running", func() error {
		_, err := os.Stat(podsReady)
		return err
	})

	ctx := context.Background()
	eventually(t, 6*env.resolution+time.Minute, "NodeMetrics of every fleet node", func() error {
		list, err := env.metricsProto.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		seen := 0
		for _, m := range list.Items {
			if strings.HasPrefix(m.Name, prefix+"-") {
				if m.Usage.Cpu().IsZero() || m.Usage.Memory().IsZero() {
					return fmt.Errorf("node %s has zero usage: %v", m.Name, m.Usage)
				}
				seen++
			}
		}
		if seen != nodes {
			return fmt.Errorf("%d of %d fleet nodes served", seen, nodes)
		}
		return nil
	})
	eventually(t, 6*env.resolution+time.Minute, "PodMetrics of every fleet pod", func() error {
		list, err := env.metricsProto.MetricsV1beta1().PodMetricses(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(list.Items) != nodes*podsPerNode {
			return fmt.Errorf("%d of %d fleet pods served", len(list.Items), nodes*podsPerNode)
		}
		for _, m := range list.Items {
			if len(m.Containers) != 2 {
				return fmt.Errorf("pod %s has %d containers, want 2", m.Name, len(m.Containers))
			}
		}
		return nil
	})
	// One pod by name, through kubectl, as a user would.
	out, err := kubectl("top", "pod", "-n", ns, prefix+"-199-p1", "--no-headers")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, prefix+"-199-p1 ") {
		t.Fatalf("kubectl top pod: %q", out)
	}
}
