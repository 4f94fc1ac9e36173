package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRBACThroughAggregator: a user without RBAC is refused, the same user
// bound to system:aggregated-metrics-reader reads metrics.
func TestRBACThroughAggregator(t *testing.T) {
	const user = "e2e-alice"
	path := "/apis/metrics.k8s.io/v1beta1/nodes"
	_, err := kubectl("get", "--raw", path, "--as", user)
	if err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Fatalf("user without RBAC: want Forbidden, got %v", err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-alice-metrics"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:aggregated-metrics-reader"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}},
	}
	if _, err := env.kube.RbacV1().ClusterRoleBindings().Create(context.Background(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.RbacV1().ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
	})
	eventually(t, 30*time.Second, "bound user reads node metrics", func() error {
		out, err := kubectl("get", "--raw", path, "--as", user)
		if err == nil && !strings.Contains(out, `"kind":"NodeMetricsList"`) {
			t.Fatalf("unexpected body %s", out)
		}
		return err
	})
}
