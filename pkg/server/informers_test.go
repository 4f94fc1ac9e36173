package server

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func TestTransformNodeKeepsOnlyWhatScrapingNeeds(t *testing.T) {
	in := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: "n1", UID: "u1", ResourceVersion: "7",
			Labels:        map[string]string{"zone": "a"},
			Annotations:   map[string]string{resourceMetricsPathAnnotation: "/custom", "other": "x"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}},
		},
		Spec: corev1.NodeSpec{PodCIDR: "10.0.0.0/24"},
		Status: corev1.NodeStatus{
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.1.1.1"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			Images:          []corev1.ContainerImage{{Names: []string{"big"}, SizeBytes: 1 << 30}},
			Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady}},
		},
	}
	out, err := transformNode(in)
	if err != nil {
		t.Fatal(err)
	}
	n := out.(*corev1.Node)
	switch {
	case n.Name != "n1" || n.ResourceVersion != "7" || n.Labels["zone"] != "a":
		t.Errorf("identity or labels lost: %+v", n.ObjectMeta)
	case len(n.Annotations) != 1 || n.Annotations[resourceMetricsPathAnnotation] != "/custom":
		t.Errorf("annotations %v", n.Annotations)
	case n.ManagedFields != nil || n.Status.Images != nil || n.Status.Conditions != nil || n.Spec.PodCIDR != "":
		t.Errorf("kept what is not needed: %+v", n)
	case len(n.Status.Addresses) != 1 || n.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250:
		t.Errorf("addresses or port lost: %+v", n.Status)
	}
}

func TestTransformTombstoneAndUnknown(t *testing.T) {
	tomb := cache.DeletedFinalStateUnknown{Key: "n1", Obj: &corev1.Node{}}
	if out, err := transformNode(tomb); err != nil || out != any(tomb) {
		t.Errorf("tombstone: %v %v", out, err)
	}
	if _, err := transformNode("not an object"); err == nil {
		t.Error("unknown object accepted")
	}
}

func TestReleaseAfterSync(t *testing.T) {
	tests := []struct {
		name     string
		synced   bool
		cancel   bool
		released bool
	}{
		{"synced", true, false, true},
		{"stopped before sync", false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			if tt.cancel {
				cancel()
			} else {
				defer cancel()
			}
			got := releaseAfterSync(ctx, func() bool { return tt.synced })
			if got != tt.released {
				t.Fatalf("releaseAfterSync = %v, want %v", got, tt.released)
			}
		})
	}
}
