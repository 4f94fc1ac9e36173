package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The deployment artifacts, applied with `kubectl apply --dry-run=server`:
// the real kube-apiserver runs its validation, defaulting and admission (RBAC
// escalation checks, Service and APIService rules, immutable fields against
// the stack's live objects of the same names) on every object, and persists
// nothing, so the stack under test keeps its own registration.

// TestDeployManifestsDryRun: manifests/components.yaml and
// manifests/high-availability.yaml are accepted object by object.
func TestDeployManifestsDryRun(t *testing.T) {
	root := repoRoot(t)
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"components.yaml", []string{
			"serviceaccount/metrics-apiserver",
			"clusterrole.rbac.authorization.k8s.io/system:metrics-apiserver",
			"clusterrole.rbac.authorization.k8s.io/system:aggregated-metrics-reader",
			"clusterrolebinding.rbac.authorization.k8s.io/metrics-apiserver:system:auth-delegator",
			"rolebinding.rbac.authorization.k8s.io/metrics-apiserver-auth-reader",
			"service/metrics-apiserver",
			"deployment.apps/metrics-apiserver",
			"apiservice.apiregistration.k8s.io/v1beta1.metrics.k8s.io",
		}},
		{"high-availability.yaml", []string{
			"deployment.apps/metrics-apiserver",
			"poddisruptionbudget.policy/metrics-apiserver",
			"apiservice.apiregistration.k8s.io/v1beta1.metrics.k8s.io",
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			applied := dryRunApply(t, filepath.Join(root, "manifests", tc.file))
			for _, w := range tc.want {
				if !applied[w] {
					t.Errorf("%s not among the applied objects %v", w, applied)
				}
			}
		})
	}
	// a Deployment's pod template is not checked against PriorityClasses
	// until its pods are created: check the one the install names exists
	if _, err := kubectl("get", "priorityclass", "system-cluster-critical"); err != nil {
		t.Error(err)
	}
	checkNothingPersisted(t)
}

// TestDeployChartDryRun renders the Helm chart for every ci/*-values.yaml
// scenario (test/deploy's render command: Helm's own template code) and
// applies each rendering. cert-manager and the Prometheus Operator are not
// installed here, so their kinds get stand-in CRDs that accept any fields:
// for those objects this checks names, scope and namespaces, while their
// fields are checked by the strict typed decoding in test/deploy.
func TestDeployChartDryRun(t *testing.T) {
	root := repoRoot(t)
	chart := filepath.Join(root, "charts", "metrics-apiserver")
	scenarios, err := filepath.Glob(filepath.Join(chart, "ci", "*-values.yaml"))
	if err != nil || len(scenarios) == 0 {
		t.Fatalf("no chart scenarios in %s: %v", chart, err)
	}
	out := t.TempDir()
	// the first build of Helm's packages takes minutes on a busy machine
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./cmd/render", "-chart", chart, "-out", out)
	cmd.Dir = filepath.Join(root, "test", "deploy")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rendering the chart: %v\n%s", err, stderr.String())
	}
	rendered, err := filepath.Glob(filepath.Join(out, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rendered) != len(scenarios) {
		t.Fatalf("%d renderings for %d scenarios: %v", len(rendered), len(scenarios), rendered)
	}
	installStandInCRDs(t)
	for _, file := range rendered {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			applied := dryRunApply(t, file)
			for _, w := range []string{"deployment.apps/metrics-apiserver", "apiservice.apiregistration.k8s.io/v1beta1.metrics.k8s.io"} {
				if !applied[w] {
					t.Errorf("%s not among the applied objects %v", w, applied)
				}
			}
		})
	}
	checkNothingPersisted(t)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "manifests", "components.yaml")); err != nil {
		t.Fatalf("not the repository root: %v", err)
	}
	return root
}

var topLevelKind = regexp.MustCompile(`(?m)^kind: `)

// dryRunApply applies file with --dry-run=server and returns the objects
// kubectl reports (resource/name), which must be one per document. A kind
// whose CRD was just created may be unknown to kubectl's discovery cache for
// a moment, so "no matches for kind" is retried.
func dryRunApply(t *testing.T, file string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	docs := len(topLevelKind.FindAll(data, -1))
	var out string
	eventually(t, 60*time.Second, "kubectl apply --dry-run=server -f "+filepath.Base(file), func() error {
		out, err = kubectl("apply", "--dry-run=server", "-o", "name", "-f", file)
		if err != nil && !strings.Contains(err.Error(), "no matches for kind") {
			t.Fatal(err)
		}
		return err
	})
	applied := map[string]bool{}
	for _, line := range strings.Fields(out) {
		applied[line] = true
	}
	if len(applied) != docs {
		t.Errorf("%d objects applied, %d documents in %s:\n%s", len(applied), docs, file, out)
	}
	return applied
}

// checkNothingPersisted: the dry runs left the stack's own registration
// (hack/local's ExternalName Service on E2E_METRICS_PORT) alone.
func checkNothingPersisted(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if _, err := env.kube.AppsV1().Deployments("kube-system").Get(ctx, "metrics-apiserver", metav1.GetOptions{}); !isNotFound(err) {
		t.Errorf("a dry run left Deployment kube-system/metrics-apiserver behind (err %v)", err)
	}
	port, err := strconv.Atoi(os.Getenv("E2E_METRICS_PORT"))
	if err != nil {
		return // not started by hack/e2e.sh: nothing to compare with
	}
	out, err := kubectl("get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "jsonpath={.spec.service.port}")
	if err != nil {
		t.Fatal(err)
	}
	if out != strconv.Itoa(port) {
		t.Errorf("APIService v1beta1.metrics.k8s.io now points at port %s, want the stack's %d", out, port)
	}
}

// Stand-ins for CRDs the chart's optional parts need (name -> group, version,
// kind, plural).
var standInCRDs = []struct{ group, version, kind, plural string }{
	{"cert-manager.io", "v1", "Certificate", "certificates"},
	{"cert-manager.io", "v1", "Issuer", "issuers"},
	{"monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors"},
}

// installStandInCRDs creates the missing ones and deletes what it created
// when the test ends.
func installStandInCRDs(t *testing.T) {
	t.Helper()
	for _, c := range standInCRDs {
		name := c.plural + "." + c.group
		if _, err := kubectl("get", "crd", name); err == nil {
			continue // a real one is installed: use it
		}
		manifest := fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %[1]s
  labels:
    e2e.metrics-apiserver.io/stand-in: "true"
spec:
  group: %[2]s
  scope: Namespaced
  names:
    kind: %[4]s
    listKind: %[4]sList
    plural: %[5]s
    singular: %[6]s
  versions:
  - name: %[3]s
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`, name, c.group, c.version, c.kind, c.plural, strings.ToLower(c.kind))
		path := filepath.Join(t.TempDir(), c.plural+".yaml")
		if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := kubectl("create", "-f", path); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if _, err := kubectl("delete", "crd", name, "--wait=false"); err != nil {
				t.Logf("deleting stand-in CRD %s: %v", name, err)
			}
		})
		if _, err := kubectl("wait", "--for=condition=Established", "--timeout=30s", "crd/"+name); err != nil {
			t.Fatal(err)
		}
	}
}
