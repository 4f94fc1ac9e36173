package deploy

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/utils/ptr"
)

const ns = "kube-system"

// The flags every install runs with (metrics-server's, on our names).
var wantArgs = []string{
	"--cert-dir=/tmp",
	"--secure-port=10250",
	"--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
	"--kubelet-use-node-status-port",
	"--metric-resolution=15s",
}

// TestManifests decodes manifests/components.yaml and
// manifests/high-availability.yaml strictly and checks what an operator
// relies on: the objects, their hardening, RBAC identical to the local
// harness's, and the Service/APIService wiring.
func TestManifests(t *testing.T) {
	base := map[string]int{
		"ServiceAccount": 1, "ClusterRole": 2, "ClusterRoleBinding": 2, "RoleBinding": 1,
		"Service": 1, "Deployment": 1, "APIService": 1,
	}
	withPDB := map[string]int{"PodDisruptionBudget": 1}
	for k, v := range base {
		withPDB[k] = v
	}
	for _, tc := range []struct {
		file      string
		kinds     map[string]int
		replicas  int32
		checkMore func(t *testing.T, o *objects, d *appsv1.Deployment)
	}{
		{file: "components.yaml", kinds: base, replicas: 1, checkMore: func(t *testing.T, _ *objects, d *appsv1.Deployment) {
			if d.Spec.Template.Spec.Affinity != nil {
				t.Errorf("single replica with affinity %v", d.Spec.Template.Spec.Affinity)
			}
			if u := d.Spec.Strategy.RollingUpdate; u == nil || u.MaxUnavailable == nil || u.MaxUnavailable.IntValue() != 0 {
				t.Errorf("one replica must be replaced surge-first (maxUnavailable 0), strategy %+v", d.Spec.Strategy)
			}
		}},
		{file: "high-availability.yaml", kinds: withPDB, replicas: 2, checkMore: checkHA},
	} {
		t.Run(tc.file, func(t *testing.T) {
			o := decodeFile(t, filepath.Join(repoRoot(t), "manifests", tc.file))
			if got := o.kinds(); !reflect.DeepEqual(got, tc.kinds) {
				t.Errorf("kinds: got %v, want %v", got, tc.kinds)
			}
			d := get[*appsv1.Deployment](t, o, "Deployment", ns, "metrics-apiserver")
			if p := hardeningProblems(d); len(p) > 0 {
				t.Errorf("Deployment is not hardened: %s", strings.Join(p, "; "))
			}
			if got := ptr.Deref(d.Spec.Replicas, 1); got != tc.replicas {
				t.Errorf("replicas %d, want %d", got, tc.replicas)
			}
			c := d.Spec.Template.Spec.Containers[0]
			if !reflect.DeepEqual(c.Args, wantArgs) {
				t.Errorf("args\n got %q\nwant %q", c.Args, wantArgs)
			}
			if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 10250 || c.Ports[0].Name != "https" {
				t.Errorf("ports %+v, want https/10250", c.Ports)
			}
			svc := get[*corev1.Service](t, o, "Service", ns, "metrics-apiserver")
			checkServiceSelectsPods(t, svc, d)
			sa := get[*corev1.ServiceAccount](t, o, "ServiceAccount", ns, "metrics-apiserver")
			if d.Spec.Template.Spec.ServiceAccountName != sa.Name {
				t.Errorf("pods run as %q, not the ServiceAccount %q", d.Spec.Template.Spec.ServiceAccountName, sa.Name)
			}
			api := get[*apiregistrationv1.APIService](t, o, "APIService", "", "v1beta1.metrics.k8s.io")
			checkAPIService(t, api, svc)
			if !api.Spec.InsecureSkipTLSVerify || len(api.Spec.CABundle) > 0 {
				t.Errorf("self-signed serving cert: want insecureSkipTLSVerify and no caBundle, got %+v", api.Spec)
			}
			checkRBACLikeLocalHarness(t, o, rbacv1.Subject{Kind: "ServiceAccount", Name: sa.Name, Namespace: ns})
			tc.checkMore(t, o, d)
		})
	}
}

func checkHA(t *testing.T, o *objects, d *appsv1.Deployment) {
	t.Helper()
	pdb := get[*policyv1.PodDisruptionBudget](t, o, "PodDisruptionBudget", ns, "metrics-apiserver")
	if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != intstr.FromInt32(1) || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("PDB want minAvailable 1, got %+v", pdb.Spec)
	}
	if pdb.Spec.Selector == nil || !matches(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("PDB selector %v does not select the pods %v", pdb.Spec.Selector, d.Spec.Template.Labels)
	}
	checkAntiAffinity(t, d)
	if u := d.Spec.Strategy.RollingUpdate; u == nil || u.MaxUnavailable == nil || u.MaxUnavailable.IntValue() != 1 {
		t.Errorf("HA rollout must replace one replica at a time (maxUnavailable 1), strategy %+v", d.Spec.Strategy)
	}
}

// checkAntiAffinity: no two replicas on one node.
func checkAntiAffinity(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	aff := d.Spec.Template.Spec.Affinity
	if aff == nil || aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatalf("want one required pod anti-affinity term, got %+v", aff)
	}
	term := aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0]
	if term.TopologyKey != "kubernetes.io/hostname" {
		t.Errorf("anti-affinity topologyKey %q", term.TopologyKey)
	}
	if term.LabelSelector == nil || !matches(term.LabelSelector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("anti-affinity selector %v does not select the pods %v", term.LabelSelector, d.Spec.Template.Labels)
	}
}

// matches: every selector label is on the pod (and there is one at least).
func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkAPIService: metrics.k8s.io/v1beta1, served by svc's https port.
func checkAPIService(t *testing.T, api *apiregistrationv1.APIService, svc *corev1.Service) {
	t.Helper()
	s := api.Spec
	if s.Group != "metrics.k8s.io" || s.Version != "v1beta1" || s.GroupPriorityMinimum != 100 || s.VersionPriority != 100 {
		t.Errorf("APIService spec %+v", s)
	}
	if s.Service == nil || s.Service.Name != svc.Name || s.Service.Namespace != svc.Namespace {
		t.Fatalf("APIService service %+v, want %s/%s", s.Service, svc.Namespace, svc.Name)
	}
	port := ptr.Deref(s.Service.Port, 443)
	found := false
	for _, p := range svc.Spec.Ports {
		found = found || p.Port == port
	}
	if !found {
		t.Errorf("APIService port %d is not a port of Service %s", port, svc.Name)
	}
	if s.InsecureSkipTLSVerify && len(s.CABundle) > 0 {
		t.Error("both insecureSkipTLSVerify and caBundle")
	}
}

// checkRBACLikeLocalHarness: the roles carry the names and exactly the rules
// of hack/local/metrics-apiserver-rbac.yaml (which the e2e suite proves
// sufficient), and every binding names subject.
func checkRBACLikeLocalHarness(t *testing.T, o *objects, subject rbacv1.Subject) {
	t.Helper()
	local := decodeFile(t, filepath.Join(repoRoot(t), "hack", "local", "metrics-apiserver-rbac.yaml"))
	for _, k := range local.ofKind("ClusterRole") {
		want := local.byKey[k].(*rbacv1.ClusterRole)
		got := get[*rbacv1.ClusterRole](t, o, "ClusterRole", "", want.Name)
		if !reflect.DeepEqual(got.Rules, want.Rules) {
			t.Errorf("ClusterRole %s rules\n got %+v\nwant %+v", want.Name, got.Rules, want.Rules)
		}
		for l, v := range want.Labels {
			if strings.HasPrefix(l, "rbac.authorization.k8s.io/") && got.Labels[l] != v {
				t.Errorf("ClusterRole %s lacks label %s=%s", want.Name, l, v)
			}
		}
	}
	for _, k := range local.ofKind("ClusterRoleBinding") {
		want := local.byKey[k].(*rbacv1.ClusterRoleBinding)
		got := get[*rbacv1.ClusterRoleBinding](t, o, "ClusterRoleBinding", "", want.Name)
		if got.RoleRef != want.RoleRef {
			t.Errorf("ClusterRoleBinding %s roleRef %+v, want %+v", want.Name, got.RoleRef, want.RoleRef)
		}
		if !slices.Equal(got.Subjects, []rbacv1.Subject{subject}) {
			t.Errorf("ClusterRoleBinding %s subjects %+v, want %+v", want.Name, got.Subjects, subject)
		}
	}
	for _, k := range local.ofKind("RoleBinding") {
		want := local.byKey[k].(*rbacv1.RoleBinding)
		got := get[*rbacv1.RoleBinding](t, o, "RoleBinding", want.Namespace, want.Name)
		if got.RoleRef != want.RoleRef {
			t.Errorf("RoleBinding %s roleRef %+v, want %+v", want.Name, got.RoleRef, want.RoleRef)
		}
		if !slices.Equal(got.Subjects, []rbacv1.Subject{subject}) {
			t.Errorf("RoleBinding %s subjects %+v, want %+v", want.Name, got.Subjects, subject)
		}
	}
}

// TestHardeningProblems proves the checker fails each way it should.
func TestHardeningProblems(t *testing.T) {
	good := func(t *testing.T) *appsv1.Deployment {
		o := decodeFile(t, filepath.Join(repoRoot(t), "manifests", "components.yaml"))
		return o.theDeployment(t)
	}
	if p := hardeningProblems(good(t)); len(p) != 0 {
		t.Fatalf("components.yaml: %v", p)
	}
	for _, tc := range []struct {
		name, want string
		breakIt    func(d *appsv1.Deployment)
	}{
		{"root", "runAsNonRoot", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].SecurityContext.RunAsNonRoot = nil
			d.Spec.Template.Spec.SecurityContext.RunAsNonRoot = ptr.To(false)
		}},
		{"uid 0", "uid 0", func(d *appsv1.Deployment) { d.Spec.Template.Spec.SecurityContext.RunAsUser = ptr.To[int64](0) }},
		{"writable root", "readOnlyRootFilesystem", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = nil
		}},
		{"escalation", "allowPrivilegeEscalation", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
		}},
		{"capability", "capabilities", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		}},
		{"no seccomp", "seccompProfile", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].SecurityContext.SeccompProfile = nil
			d.Spec.Template.Spec.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}},
		{"healthz probe", "livenessProbe", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Path = "/healthz"
		}},
		{"no readiness", "readinessProbe", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].ReadinessProbe = nil }},
		{"probe port", "not a named container port", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Port = intstr.FromString("metrics")
		}},
		{"priority", "priorityClassName", func(d *appsv1.Deployment) { d.Spec.Template.Spec.PriorityClassName = "" }},
		{"no requests", "requests", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
		}},
		{"latest", "not pinned", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "x/y:latest" }},
		{"no tmp", "emptyDir", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].VolumeMounts = nil }},
		{"host network", "host namespace", func(d *appsv1.Deployment) { d.Spec.Template.Spec.HostNetwork = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := good(t)
			tc.breakIt(d)
			p := hardeningProblems(d)
			if !strings.Contains(strings.Join(p, "; "), tc.want) {
				t.Errorf("problems %q do not mention %q", p, tc.want)
			}
		})
	}
}
