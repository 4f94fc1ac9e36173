package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

// TestRawAPI reads metrics.k8s.io through kube-apiserver's aggregator as JSON
// and as protobuf: every container (including a native sidecar) is present,
// timestamps advance, and window is the interval the rate was computed over.
func TestRawAPI(t *testing.T) {
	ns := newNamespace(t, "e2e-raw")
	p := simPod(ns, "api", nil, map[string]string{annUsage: `{"api":{"cpu":"120m","memory":"40Mi"},"envoy":{"cpu":"30m","memory":"8Mi"}}`}, "api")
	always := corev1.ContainerRestartPolicyAlways
	p.Spec.InitContainers = []corev1.Container{{Name: "envoy", Image: "envoyproxy/envoy", RestartPolicy: &always}}
	createPod(t, p)
	runningPod(t, ns, "api")

	for _, tc := range []struct {
		name   string
		client metricsclient.Interface
	}{{"json", env.metricsJSON}, {"protobuf", env.metricsProto}} {
		t.Run(tc.name, func(t *testing.T) {
			pods := tc.client.MetricsV1beta1().PodMetricses(ns)
			var first *v1beta1.PodMetrics
			eventually(t, 4*env.resolution, "pod metrics", func() error {
				var err error
				first, err = pods.Get(context.Background(), "api", metav1.GetOptions{})
				return err
			})
			var names []string
			for _, c := range first.Containers {
				names = append(names, c.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, []string{"api", "envoy"}) {
				t.Fatalf("containers %v", names)
			}
			var next *v1beta1.PodMetrics
			eventually(t, 2*env.resolution+5*time.Second, "timestamp advances", func() error {
				var err error
				if next, err = pods.Get(context.Background(), "api", metav1.GetOptions{}); err != nil {
					return err
				}
				if !next.Timestamp.After(first.Timestamp.Time) {
					return fmt.Errorf("timestamp still %s", next.Timestamp)
				}
				return nil
			})
			w := next.Window.Duration
			if w < env.resolution/2 || w > 2*env.resolution {
				t.Errorf("window %s for resolution %s", w, env.resolution)
			}
			// With the default --cpu-window the rate uses the last two points, so
			// the window of the newer reading spans back to the older reading. JSON
			// timestamps have second precision, protobuf keeps nanoseconds.
			gap := next.Timestamp.Sub(first.Timestamp.Time)
			tolerance := 10 * time.Millisecond
			if tc.name == "json" {
				tolerance = time.Second
			}
			if next.Timestamp.Sub(first.Timestamp.Time) <= env.resolution*3/2 {
				if d := w - gap; d < -tolerance || d > tolerance {
					t.Errorf("window %s, but consecutive timestamps are %s apart", w, gap)
				}
			}
			for _, c := range next.Containers {
				cpu := c.Usage[corev1.ResourceCPU]
				want := map[string]int64{"api": 120, "envoy": 30}[c.Name]
				if d := cpu.MilliValue() - want; d < -1 || d > 1 {
					t.Errorf("%s cpu %s, want %dm", c.Name, cpu.String(), want)
				}
			}
			nodes, err := tc.client.MetricsV1beta1().NodeMetricses().List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(nodes.Items) < 3 {
				t.Errorf("%d nodes listed", len(nodes.Items))
			}
		})
	}

	t.Run("kubectl get --raw", func(t *testing.T) {
		out, err := kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/"+ns+"/pods/api")
		if err != nil {
			t.Fatal(err)
		}
		var m v1beta1.PodMetrics
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		if m.Kind != "PodMetrics" || m.APIVersion != "metrics.k8s.io/v1beta1" || len(m.Containers) != 2 {
			t.Errorf("got %s", out)
		}
	})
}
