package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestRestartNeverServesAbsurdValues restarts a pod's container (its CPU
// counter starts again from 0 and its start time changes): every value served
// around the restart must be a plausible rate, never negative or huge.
func TestRestartNeverServesAbsurdValues(t *testing.T) {
	ns := newNamespace(t, "e2e-restart")
	createPod(t, simPod(ns, "worker", nil, map[string]string{annCPU: "200m", annMemory: "50Mi"}, "app"))
	runningPod(t, ns, "worker")
	get := func() (int64, bool, error) {
		m, err := env.metricsProto.MetricsV1beta1().PodMetricses(ns).Get(context.Background(), "worker", metav1.GetOptions{})
		if isNotFound(err) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		cpu := m.Containers[0].Usage[corev1.ResourceCPU]
		return cpu.MilliValue(), true, nil
	}
	eventually(t, 4*env.resolution, "worker metered", func() error {
		_, ok, err := get()
		if err == nil && !ok {
			err = fmt.Errorf("not yet")
		}
		return err
	})

	for gen := 1; gen <= 2; gen++ {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"%d"}}}`, annRestart, gen)
		if _, err := env.kube.CoreV1().Pods(ns).Patch(context.Background(), "worker", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		// Watch for three resolutions: the pod may be absent for a cycle while
		// its new series gets a second point, but what is served must be sane.
		end := time.Now().Add(3 * env.resolution)
		served := 0
		for time.Now().Before(end) {
			milli, ok, err := get()
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				served++
				if milli < 0 || milli > 201 {
					t.Fatalf("restart %d: served %dm for a container using 200m", gen, milli)
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		if served == 0 {
			t.Errorf("restart %d: pod never served again within %s", gen, 3*env.resolution)
		}
	}
}

// TestDeletedPodDisappears deletes a pod: its metrics go within two resolutions.
func TestDeletedPodDisappears(t *testing.T) {
	ns := newNamespace(t, "e2e-delete")
	createPod(t, simPod(ns, "doomed", nil, nil, "app"))
	runningPod(t, ns, "doomed")
	pods := env.metricsJSON.MetricsV1beta1().PodMetricses(ns)
	eventually(t, 4*env.resolution, "doomed metered", func() error {
		_, err := pods.Get(context.Background(), "doomed", metav1.GetOptions{})
		return err
	})
	if err := env.kube.CoreV1().Pods(ns).Delete(context.Background(), "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*env.resolution, "doomed gone from metrics", func() error {
		_, err := pods.Get(context.Background(), "doomed", metav1.GetOptions{})
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("still served (err %v)", err)
	})
}
