package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"

	"github.com/metrics-apiserver/metrics-apiserver/test/deploy/render"
)

// repoRoot is the repository this module sits in (two levels up).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func chartDir(t testing.TB) string { return filepath.Join(repoRoot(t), "charts", "metrics-apiserver") }

// objects is a set of decoded objects, by "Kind/namespace/name".
type objects struct {
	order []string
	byKey map[string]k8sruntime.Object
}

func key(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

func newObjects(t testing.TB, list []k8sruntime.Object) *objects {
	t.Helper()
	o := &objects{byKey: map[string]k8sruntime.Object{}}
	for _, obj := range list {
		acc, err := meta.Accessor(obj)
		if err != nil {
			t.Fatal(err)
		}
		kind := obj.GetObjectKind().GroupVersionKind().Kind
		if kind == "" {
			t.Fatalf("%T %s has no kind", obj, acc.GetName())
		}
		k := key(kind, acc.GetNamespace(), acc.GetName())
		if _, dup := o.byKey[k]; dup {
			t.Errorf("%s appears twice", k)
		}
		o.byKey[k] = obj
		o.order = append(o.order, k)
	}
	return o
}

// decodeFile decodes every document of a multi-document YAML file strictly.
func decodeFile(t testing.TB, path string) *objects {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	list, err := render.DecodeAll(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return newObjects(t, list)
}

// get returns the object of that kind, namespace and name as T, failing the
// test when it is missing.
func get[T k8sruntime.Object](t testing.TB, o *objects, kind, namespace, name string) T {
	t.Helper()
	obj, ok := o.byKey[key(kind, namespace, name)]
	if !ok {
		t.Fatalf("no %s %s/%s among %v", kind, namespace, name, o.order)
	}
	typed, ok := obj.(T)
	if !ok {
		t.Fatalf("%s %s/%s is a %T", kind, namespace, name, obj)
	}
	return typed
}

// ofKind lists the keys of the objects of one kind.
func (o *objects) ofKind(kind string) []string {
	var keys []string
	for _, k := range o.order {
		if strings.HasPrefix(k, kind+"/") {
			keys = append(keys, k)
		}
	}
	return keys
}

// kinds counts the objects per kind, e.g. {"ClusterRole": 2}.
func (o *objects) kinds() map[string]int {
	m := map[string]int{}
	for _, k := range o.order {
		m[strings.SplitN(k, "/", 2)[0]]++
	}
	return m
}

// theDeployment returns the only Deployment.
func (o *objects) theDeployment(t testing.TB) *appsv1.Deployment {
	t.Helper()
	keys := o.ofKind("Deployment")
	if len(keys) != 1 {
		t.Fatalf("want one Deployment, have %v", keys)
	}
	return o.byKey[keys[0]].(*appsv1.Deployment)
}

// hardeningProblems lists every way the Deployment falls short of the
// hardening the install promises: non-root, read-only root filesystem, no
// capabilities, no privilege escalation, seccomp RuntimeDefault, probes on
// /livez and /readyz over HTTPS on a declared port, system-cluster-critical,
// requests set, a writable /tmp for --cert-dir.
func hardeningProblems(d *appsv1.Deployment) []string {
	var p []string
	spec := d.Spec.Template.Spec
	if spec.PriorityClassName != "system-cluster-critical" {
		p = append(p, fmt.Sprintf("priorityClassName %q", spec.PriorityClassName))
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		p = append(p, "shares a host namespace")
	}
	if len(spec.Containers) != 1 {
		return append(p, fmt.Sprintf("%d containers, want 1", len(spec.Containers)))
	}
	c := spec.Containers[0]
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		return append(p, "container has no securityContext")
	}
	nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
	if !nonRoot {
		p = append(p, "runAsNonRoot is not true")
	}
	if (sc.RunAsUser != nil && *sc.RunAsUser == 0) || (sc.RunAsUser == nil && psc.RunAsUser != nil && *psc.RunAsUser == 0) {
		p = append(p, "runs as uid 0")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		p = append(p, "readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		p = append(p, "allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		p = append(p, "privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		p = append(p, "capabilities: want drop [ALL] and nothing added")
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		p = append(p, "seccompProfile is not RuntimeDefault")
	}
	ports := map[string]int32{}
	for _, port := range c.Ports {
		ports[port.Name] = port.ContainerPort
	}
	for _, probe := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{{"livenessProbe", c.LivenessProbe, "/livez"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}} {
		switch pr := probe.probe; {
		case pr == nil || pr.HTTPGet == nil:
			p = append(p, probe.what+" is not an HTTP probe")
		case pr.HTTPGet.Path != probe.path || pr.HTTPGet.Scheme != corev1.URISchemeHTTPS:
			p = append(p, fmt.Sprintf("%s is %s %s, want HTTPS %s", probe.what, pr.HTTPGet.Scheme, pr.HTTPGet.Path, probe.path))
		case pr.HTTPGet.Port.StrVal == "" || ports[pr.HTTPGet.Port.StrVal] == 0:
			p = append(p, fmt.Sprintf("%s port %s is not a named container port", probe.what, pr.HTTPGet.Port.String()))
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		p = append(p, "cpu and memory requests not both set")
	}
	if strings.HasSuffix(c.Image, ":latest") || !strings.ContainsAny(c.Image, ":@") {
		p = append(p, fmt.Sprintf("image %q is not pinned", c.Image))
	}
	if !slices.Contains(c.Args, "--cert-dir=/tmp") {
		p = append(p, "no --cert-dir=/tmp")
	}
	tmpIsEmptyDir := false
	for _, v := range spec.Volumes {
		for _, m := range c.VolumeMounts {
			if m.MountPath == "/tmp" && m.Name == v.Name && v.EmptyDir != nil {
				tmpIsEmptyDir = true
			}
		}
	}
	if !tmpIsEmptyDir {
		p = append(p, "/tmp is not an emptyDir (the read-only root filesystem leaves --cert-dir unwritable)")
	}
	if spec.ServiceAccountName == "" || spec.ServiceAccountName == "default" {
		p = append(p, "runs as the default ServiceAccount")
	}
	return p
}

// checkServiceSelectsPods: the Service selects the Deployment's pods and
// targets a declared container port.
func checkServiceSelectsPods(t *testing.T, svc *corev1.Service, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Labels
	if len(svc.Spec.Selector) == 0 {
		t.Errorf("Service %s selects nothing", svc.Name)
	}
	for k, v := range svc.Spec.Selector {
		if pod[k] != v {
			t.Errorf("Service selector %s=%s does not match the pod labels %v", k, v, pod)
		}
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if pod[k] != v {
			t.Errorf("Deployment selector %s=%s does not match its pod labels %v", k, v, pod)
		}
	}
	names := map[string]bool{}
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		names[p.Name] = true
	}
	for _, p := range svc.Spec.Ports {
		if !names[p.TargetPort.StrVal] {
			t.Errorf("Service port %s targets %s, not a named container port", p.Name, p.TargetPort.String())
		}
	}
}

// toUnstructured is for assertions on fields by path.
func toUnstructured(t testing.TB, obj k8sruntime.Object) map[string]any {
	t.Helper()
	m, err := k8sruntime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func nestedString(m map[string]any, path ...string) string {
	s, _, _ := unstructured.NestedString(m, path...)
	return s
}
