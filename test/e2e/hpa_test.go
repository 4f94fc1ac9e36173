package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// TestHPAScalesOnOurMetrics: the real HPA controller in kube-controller-manager
// scales a Deployment up and back down using only metrics.k8s.io from this
// server. Pods request 100m; the HPA targets 50%; each pod uses 200m (400%),
// so it scales to its maximum of 4; then usage drops to 10m and it scales
// back to 1 after the (shortened) downscale stabilization.
func TestHPAScalesOnOurMetrics(t *testing.T) {
	ns := newNamespace(t, "e2e-hpa")
	ctx := context.Background()
	labels := map[string]string{"app": "busy"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "busy", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{annCPU: "200m", annMemory: "20Mi"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "registry.k8s.io/pause",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
				}}},
			},
		},
	}
	if _, err := env.kube.AppsV1().Deployments(ns).Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "busy", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "busy"},
			MinReplicas:    ptr.To[int32](1),
			MaxReplicas:    4,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name:   corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)},
				},
			}},
		},
	}
	if _, err := env.kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	replicas := func() (int32, error) {
		d, err := env.kube.AppsV1().Deployments(ns).Get(ctx, "busy", metav1.GetOptions{})
		if err != nil {
			return 0, err
		}
		return *d.Spec.Replicas, nil
	}
	start := time.Now()
	eventually(t, 3*time.Minute, "HPA scales up to 4", func() error {
		r, err := replicas()
		if err == nil && r != 4 {
			err = fmt.Errorf("spec.replicas %d; HPA status: %s", r, hpaStatus(ns))
		}
		return err
	})
	t.Logf("scaled up to 4 after %s", time.Since(start).Round(time.Second))

	// The new pods are bound, run and are metered by this server.
	eventually(t, 4*env.resolution+30*time.Second, "all 4 pods metered", func() error {
		list, err := env.metricsJSON.MetricsV1beta1().PodMetricses(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=busy"})
		if err == nil && len(list.Items) != 4 {
			err = fmt.Errorf("%d pod metrics", len(list.Items))
		}
		return err
	})

	// Usage drops: every running pod now uses 10m (5% of its request).
	pods, err := env.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=busy"})
	if err != nil {
		t.Fatal(err)
	}
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:"10m"}}}`, annCPU))
	for _, p := range pods.Items {
		if _, err := env.kube.CoreV1().Pods(ns).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	start = time.Now()
	eventually(t, 3*time.Minute, "HPA scales back down to 1", func() error {
		r, err := replicas()
		if err == nil && r != 1 {
			err = fmt.Errorf("spec.replicas %d; HPA status: %s", r, hpaStatus(ns))
		}
		return err
	})
	t.Logf("scaled down to 1 after %s", time.Since(start).Round(time.Second))
}

func hpaStatus(ns string) string {
	h, err := env.kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(context.Background(), "busy", metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	s := fmt.Sprintf("current %d desired %d", h.Status.CurrentReplicas, h.Status.DesiredReplicas)
	for _, c := range h.Status.Conditions {
		s += fmt.Sprintf("; %s=%s %s", c.Type, c.Status, c.Message)
	}
	return s
}
