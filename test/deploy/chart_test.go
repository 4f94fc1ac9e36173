package deploy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/metrics-apiserver/metrics-apiserver/test/deploy/render"
)

// The scenarios render into a namespace other than kube-system, so an object
// that forgets .Release.Namespace shows.
const (
	release   = "metrics-apiserver"
	releaseNS = "metrics"
)

// scenario is a rendered ci/*-values.yaml.
type scenario struct {
	*objects
	res *render.Result
	dep *appsv1.Deployment
	svc *corev1.Service
	api *apiregistrationv1.APIService
}

func (s *scenario) args() []string { return s.dep.Spec.Template.Spec.Containers[0].Args }

func renderScenario(t *testing.T, valuesFiles []string, opts render.Options) *scenario {
	t.Helper()
	res, err := render.Chart(chartDir(t), valuesFiles, opts)
	if err != nil {
		t.Fatalf("rendering with %v: %v", valuesFiles, err)
	}
	list, err := render.DecodeAll([]byte(res.YAML()))
	if err != nil {
		t.Fatalf("strict decoding: %v", err)
	}
	s := &scenario{objects: newObjects(t, list), res: res}
	s.dep = s.theDeployment(t)
	s.svc = get[*corev1.Service](t, s.objects, "Service", opts.Namespace, release)
	if keys := s.ofKind("APIService"); len(keys) == 1 {
		s.api = s.byKey[keys[0]].(*apiregistrationv1.APIService)
	}
	return s
}

// scenarioChecks holds what each ci/*-values.yaml must render beyond the
// checks every scenario gets. A ci file without an entry fails the test.
var scenarioChecks = map[string]func(t *testing.T, s *scenario){
	"default": func(t *testing.T, s *scenario) {
		wantKinds(t, s, map[string]int{"ServiceAccount": 1, "ClusterRole": 2, "ClusterRoleBinding": 2, "RoleBinding": 1,
			"Service": 1, "Deployment": 1, "APIService": 1})
		if !s.api.Spec.InsecureSkipTLSVerify || len(s.api.Spec.CABundle) != 0 {
			t.Errorf("selfSigned: want insecureSkipTLSVerify and no caBundle, got %+v", s.api.Spec)
		}
		if slices.ContainsFunc(s.args(), func(a string) bool { return strings.HasPrefix(a, "--tls-cert-file") }) {
			t.Errorf("selfSigned passes a certificate: %q", s.args())
		}
	},
	"ha": func(t *testing.T, s *scenario) {
		if got := ptr.Deref(s.dep.Spec.Replicas, 1); got != 2 {
			t.Errorf("replicas %d, want 2", got)
		}
		pdb := get[*policyv1.PodDisruptionBudget](t, s.objects, "PodDisruptionBudget", releaseNS, release)
		if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != intstr.FromInt32(1) || pdb.Spec.MaxUnavailable != nil {
			t.Errorf("PDB %+v, want minAvailable 1", pdb.Spec)
		}
		if pdb.Spec.Selector == nil || !matches(pdb.Spec.Selector.MatchLabels, s.dep.Spec.Template.Labels) {
			t.Errorf("PDB selector %v does not select the pods %v", pdb.Spec.Selector, s.dep.Spec.Template.Labels)
		}
		checkAntiAffinity(t, s.dep)
	},
	"tls-helm": func(t *testing.T, s *scenario) {
		secret := get[*corev1.Secret](t, s.objects, "Secret", releaseNS, release+"-tls")
		if secret.Type != corev1.SecretTypeTLS {
			t.Errorf("Secret type %s", secret.Type)
		}
		checkServingCert(t, secret.Data["ca.crt"], secret.Data["tls.crt"], secret.Data["tls.key"], 730*24*time.Hour)
		if s.api.Spec.InsecureSkipTLSVerify || string(s.api.Spec.CABundle) != string(secret.Data["ca.crt"]) {
			t.Errorf("APIService must verify with the Secret's ca.crt: insecure=%v caBundle %d bytes", s.api.Spec.InsecureSkipTLSVerify, len(s.api.Spec.CABundle))
		}
		checkMountsTLSSecret(t, s, secret.Name)
	},
	"tls-existing-secret": func(t *testing.T, s *scenario) {
		if len(s.ofKind("Secret")) != 0 {
			t.Errorf("existingSecret renders a Secret: %v", s.ofKind("Secret"))
		}
		values := readValues(t, filepath.Join(chartDir(t), "ci", "tls-existing-secret-values.yaml"))
		ca := values["tls"].(map[string]any)["existingSecret"].(map[string]any)["caBundle"].(string)
		if s.api.Spec.InsecureSkipTLSVerify || string(s.api.Spec.CABundle) != ca {
			t.Errorf("APIService caBundle %q, want the values' PEM", s.api.Spec.CABundle)
		}
		if _, err := parseCerts(s.api.Spec.CABundle); err != nil {
			t.Errorf("caBundle: %v", err)
		}
		checkMountsTLSSecret(t, s, "metrics-apiserver-serving")
	},
	"tls-cert-manager": func(t *testing.T, s *scenario) {
		wantKinds(t, s, map[string]int{"Issuer": 2, "Certificate": 2, "ServiceMonitor": 1})
		selfSigned := get[*certmanagerv1.Issuer](t, s.objects, "Issuer", releaseNS, release+"-selfsigned")
		if selfSigned.Spec.SelfSigned == nil {
			t.Errorf("Issuer %s is not self-signed", selfSigned.Name)
		}
		ca := get[*certmanagerv1.Certificate](t, s.objects, "Certificate", releaseNS, release+"-ca")
		if !ca.Spec.IsCA || ca.Spec.IssuerRef.Name != selfSigned.Name || ca.Spec.IssuerRef.Kind != "Issuer" {
			t.Errorf("CA Certificate %+v", ca.Spec)
		}
		caIssuer := get[*certmanagerv1.Issuer](t, s.objects, "Issuer", releaseNS, release+"-ca")
		if caIssuer.Spec.CA == nil || caIssuer.Spec.CA.SecretName != ca.Spec.SecretName {
			t.Errorf("CA Issuer %+v does not use the CA Certificate's Secret %s", caIssuer.Spec, ca.Spec.SecretName)
		}
		cert := checkCertManagerServing(t, s, caIssuer.Name, "Issuer")
		sm := get[*monitoringv1.ServiceMonitor](t, s.objects, "ServiceMonitor", releaseNS, release)
		if len(sm.Spec.Endpoints) != 1 {
			t.Fatalf("ServiceMonitor endpoints %+v", sm.Spec.Endpoints)
		}
		ep := sm.Spec.Endpoints[0]
		if ep.TLSConfig == nil || ep.TLSConfig.CA.Secret == nil || ep.TLSConfig.CA.Secret.Name != cert.Spec.SecretName ||
			ep.TLSConfig.CA.Secret.Key != "ca.crt" || ptr.Deref(ep.TLSConfig.InsecureSkipVerify, false) {
			t.Errorf("ServiceMonitor must verify with the Certificate's ca.crt: %+v", ep.TLSConfig)
		}
		if ep.BearerTokenFile == "" {
			t.Error("ServiceMonitor without a token, while /metrics needs authorization")
		}
		checkServiceMonitorSelects(t, s, sm)
	},
	"tls-cert-manager-issuer": func(t *testing.T, s *scenario) {
		wantKinds(t, s, map[string]int{"Issuer": 0, "Certificate": 1})
		cert := checkCertManagerServing(t, s, "cluster-ca", "ClusterIssuer")
		if cert.Spec.Duration == nil || cert.Spec.Duration.Duration != 720*time.Hour ||
			cert.Spec.RenewBefore == nil || cert.Spec.RenewBefore.Duration != 240*time.Hour {
			t.Errorf("duration %v renewBefore %v, want 720h and 240h", cert.Spec.Duration, cert.Spec.RenewBefore)
		}
	},
	"hardened": func(t *testing.T, s *scenario) {
		np := get[*networkingv1.NetworkPolicy](t, s.objects, "NetworkPolicy", releaseNS, release)
		checkNetworkPolicy(t, s, np)
		cm := get[*corev1.ConfigMap](t, s.objects, "ConfigMap", releaseNS, release+"-config")
		policy, err := render.DecodeConfig([]byte(cm.Data["audit-policy.yaml"]))
		if err != nil {
			t.Fatalf("audit-policy.yaml: %v", err)
		}
		if p, ok := policy.(*auditv1.Policy); !ok || len(p.Rules) != 2 || p.Rules[0].Level != auditv1.LevelNone || p.Rules[1].Level != auditv1.LevelMetadata {
			t.Errorf("audit policy %+v", policy)
		}
		tracing, err := render.DecodeConfig([]byte(cm.Data["tracing.yaml"]))
		if err != nil {
			t.Fatalf("tracing.yaml: %v", err)
		}
		if tc, ok := tracing.(*apiserverv1.TracingConfiguration); !ok || ptr.Deref(tc.Endpoint, "") != "otel-collector.observability.svc:4317" ||
			ptr.Deref(tc.SamplingRatePerMillion, 0) != 10000 {
			t.Errorf("tracing configuration %+v", tracing)
		}
		for _, want := range []string{
			"--audit-policy-file=/etc/metrics-apiserver/config/audit-policy.yaml",
			"--audit-log-path=-",
			"--tracing-config-file=/etc/metrics-apiserver/config/tracing.yaml",
			"--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
			"--kubelet-request-timeout=5s",
		} {
			if !slices.Contains(s.args(), want) {
				t.Errorf("args lack %s: %q", want, s.args())
			}
		}
		if !mountsVolume(s.dep, "/etc/metrics-apiserver/config", func(v corev1.Volume) bool {
			return v.ConfigMap != nil && v.ConfigMap.Name == cm.Name
		}) {
			t.Errorf("the ConfigMap %s is not mounted at /etc/metrics-apiserver/config", cm.Name)
		}
		if s.dep.Spec.Template.Annotations["checksum/config"] == "" {
			t.Error("no checksum/config annotation: a changed policy would not roll the pods")
		}
		sm := get[*monitoringv1.ServiceMonitor](t, s.objects, "ServiceMonitor", releaseNS, release)
		if ep := sm.Spec.Endpoints[0]; ep.BearerTokenFile != "" || ep.TLSConfig == nil || !ptr.Deref(ep.TLSConfig.InsecureSkipVerify, false) {
			t.Errorf("anonymous /metrics of a self-signed server: want no token and insecureSkipVerify, got %+v", ep)
		}
		if !strings.Contains(s.res.Notes, "--tracing-config-file") {
			t.Errorf("NOTES do not warn about --tracing-config-file:\n%s", s.res.Notes)
		}
	},
}

// TestChartScenarios renders every ci/*-values.yaml as `helm template` does
// (schema validation included, strict template mode), decodes each object
// strictly, and checks the common invariants and the scenario's own.
func TestChartScenarios(t *testing.T) {
	files, names, err := render.Scenarios(chartDir(t))
	if err != nil {
		t.Fatal(err)
	}
	for name := range scenarioChecks {
		if files[name] == "" {
			t.Errorf("checks for scenario %q, which has no ci/%s-values.yaml", name, name)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			check, ok := scenarioChecks[name]
			if !ok {
				t.Fatalf("ci/%s-values.yaml has no entry in scenarioChecks", name)
			}
			s := renderScenario(t, []string{files[name]}, render.Options{Release: release, Namespace: releaseNS})
			checkCommon(t, s)
			check(t, s)
		})
	}
}

// checkCommon: what every scenario must hold.
func checkCommon(t *testing.T, s *scenario) {
	t.Helper()
	clusterScoped := map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true, "APIService": true}
	for _, k := range s.order {
		obj := toUnstructured(t, s.byKey[k])
		kind, namespace := obj["kind"].(string), nestedString(obj, "metadata", "namespace")
		want := releaseNS
		switch {
		case clusterScoped[kind]:
			want = ""
		case kind == "RoleBinding":
			want = "kube-system" // extension-apiserver-authentication-reader lives there
		}
		if namespace != want {
			t.Errorf("%s: namespace %q, want %q", k, namespace, want)
		}
		if nestedString(obj, "metadata", "labels", "app.kubernetes.io/managed-by") != "Helm" ||
			nestedString(obj, "metadata", "labels", "app.kubernetes.io/instance") != release {
			t.Errorf("%s lacks the chart's labels", k)
		}
	}
	if p := hardeningProblems(s.dep); len(p) > 0 {
		t.Errorf("Deployment is not hardened: %s", strings.Join(p, "; "))
	}
	for _, a := range wantArgs {
		if !slices.Contains(s.args(), a) {
			t.Errorf("args lack %s: %q", a, s.args())
		}
	}
	checkServiceSelectsPods(t, s.svc, s.dep)
	if s.api == nil {
		t.Fatal("no APIService")
	}
	if s.api.Name != "v1beta1.metrics.k8s.io" {
		t.Errorf("APIService %s", s.api.Name)
	}
	checkAPIService(t, s.api, s.svc)
	sa := get[*corev1.ServiceAccount](t, s.objects, "ServiceAccount", releaseNS, release)
	if s.dep.Spec.Template.Spec.ServiceAccountName != sa.Name {
		t.Errorf("pods run as %q, not %q", s.dep.Spec.Template.Spec.ServiceAccountName, sa.Name)
	}
	checkRBACLikeLocalHarness(t, s.objects, rbacv1.Subject{Kind: "ServiceAccount", Name: sa.Name, Namespace: releaseNS})
	if !strings.Contains(s.res.Notes, "kubectl top") {
		t.Errorf("NOTES.txt:\n%s", s.res.Notes)
	}
}

func wantKinds(t *testing.T, s *scenario, want map[string]int) {
	t.Helper()
	got := s.kinds()
	for kind, n := range want {
		if got[kind] != n {
			t.Errorf("%d %s objects, want %d (all: %v)", got[kind], kind, n, got)
		}
	}
}

func readValues(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func parseCerts(pemData []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := pemData; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("no PEM certificate")
	}
	return certs, nil
}

// checkServingCert: the certificate and key pair up, and the CA verifies the
// certificate for the name kube-apiserver dials, <svc>.<ns>.svc.
func checkServingCert(t *testing.T, caPEM, certPEM, keyPEM []byte, validity time.Duration) {
	t.Helper()
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("tls.crt and tls.key: %v", err)
	}
	cas, err := parseCerts(caPEM)
	if err != nil {
		t.Fatalf("ca.crt: %v", err)
	}
	certs, err := parseCerts(certPEM)
	if err != nil {
		t.Fatalf("tls.crt: %v", err)
	}
	roots := x509.NewCertPool()
	for _, c := range cas {
		roots.AddCert(c)
	}
	for _, name := range []string{release + "." + releaseNS + ".svc", release + "." + releaseNS, release} {
		if _, err := certs[0].Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving certificate for %s: %v", name, err)
		}
	}
	if left := time.Until(certs[0].NotAfter); left < validity-48*time.Hour || left > validity+48*time.Hour {
		t.Errorf("certificate valid for %s more, want about %s", left, validity)
	}
}

// checkMountsTLSSecret: the Secret is mounted and the server is told to use it.
func checkMountsTLSSecret(t *testing.T, s *scenario, secret string) {
	t.Helper()
	if !mountsVolume(s.dep, "/etc/metrics-apiserver/tls", func(v corev1.Volume) bool {
		return v.Secret != nil && v.Secret.SecretName == secret
	}) {
		t.Errorf("Secret %s is not mounted at /etc/metrics-apiserver/tls", secret)
	}
	for _, want := range []string{"--tls-cert-file=/etc/metrics-apiserver/tls/tls.crt", "--tls-private-key-file=/etc/metrics-apiserver/tls/tls.key"} {
		if !slices.Contains(s.args(), want) {
			t.Errorf("args lack %s: %q", want, s.args())
		}
	}
}

func mountsVolume(d *appsv1.Deployment, path string, match func(corev1.Volume) bool) bool {
	for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
		if m.MountPath != path {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && match(v) {
				return true
			}
		}
	}
	return false
}

// checkCertManagerServing: the serving Certificate covers the Service names,
// is issued by the given issuer, lands in the mounted Secret, and the
// APIService asks cainjector for its CA.
func checkCertManagerServing(t *testing.T, s *scenario, issuer, issuerKind string) *certmanagerv1.Certificate {
	t.Helper()
	cert := get[*certmanagerv1.Certificate](t, s.objects, "Certificate", releaseNS, release+"-tls")
	for _, name := range []string{release, release + "." + releaseNS, release + "." + releaseNS + ".svc"} {
		if !slices.Contains(cert.Spec.DNSNames, name) {
			t.Errorf("Certificate dnsNames %v lack %s", cert.Spec.DNSNames, name)
		}
	}
	if cert.Spec.IssuerRef.Name != issuer || cert.Spec.IssuerRef.Kind != issuerKind || cert.Spec.IssuerRef.Group != "cert-manager.io" {
		t.Errorf("Certificate issuerRef %+v, want %s %s", cert.Spec.IssuerRef, issuerKind, issuer)
	}
	if cert.Spec.IsCA {
		t.Error("serving Certificate is a CA")
	}
	checkMountsTLSSecret(t, s, cert.Spec.SecretName)
	if got, want := s.api.Annotations["cert-manager.io/inject-ca-from"], releaseNS+"/"+cert.Name; got != want {
		t.Errorf("APIService inject-ca-from %q, want %q", got, want)
	}
	if s.api.Spec.InsecureSkipTLSVerify || len(s.api.Spec.CABundle) != 0 {
		t.Errorf("cert-manager: want no insecureSkipTLSVerify and caBundle left to cainjector, got %+v", s.api.Spec)
	}
	return cert
}

func checkServiceMonitorSelects(t *testing.T, s *scenario, sm *monitoringv1.ServiceMonitor) {
	t.Helper()
	if !matches(sm.Spec.Selector.MatchLabels, s.svc.Labels) {
		t.Errorf("ServiceMonitor selector %v does not select the Service labels %v", sm.Spec.Selector.MatchLabels, s.svc.Labels)
	}
	if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{releaseNS}) {
		t.Errorf("ServiceMonitor namespaces %v", sm.Spec.NamespaceSelector.MatchNames)
	}
	ep := sm.Spec.Endpoints[0]
	if ep.Port != "https" || ep.Path != "/metrics" || ep.Scheme == nil || strings.ToLower(string(*ep.Scheme)) != "https" {
		t.Errorf("ServiceMonitor endpoint %+v", ep)
	}
}

// checkNetworkPolicy: ingress only to the secure port; egress to kubelets,
// kube-apiserver, DNS and the OTLP port.
func checkNetworkPolicy(t *testing.T, s *scenario, np *networkingv1.NetworkPolicy) {
	t.Helper()
	if !matches(np.Spec.PodSelector.MatchLabels, s.dep.Spec.Template.Labels) {
		t.Errorf("NetworkPolicy selects %v, not the pods %v", np.Spec.PodSelector.MatchLabels, s.dep.Spec.Template.Labels)
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("policyTypes %v", np.Spec.PolicyTypes)
	}
	if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].Ports) != 1 || np.Spec.Ingress[0].Ports[0].Port.String() != "https" {
		t.Errorf("ingress %+v, want the https port only", np.Spec.Ingress)
	}
	egress := map[string]bool{}
	for _, rule := range np.Spec.Egress {
		for _, p := range rule.Ports {
			egress[fmt.Sprintf("%s/%s", ptr.Deref(p.Protocol, corev1.ProtocolTCP), p.Port.String())] = true
		}
	}
	for _, want := range []string{"TCP/10250", "TCP/443", "TCP/6443", "UDP/53", "TCP/53", "TCP/4317"} {
		if !egress[want] {
			t.Errorf("egress lacks %s (has %v)", want, egress)
		}
	}
	if len(egress) != 6 {
		t.Errorf("egress opens more than asked: %v", egress)
	}
}

// TestChartRejectsBadValues: values.schema.json and the templates' guards
// turn mistakes into render errors, as `helm install` would.
func TestChartRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		name, values, want string
	}{
		{"metrics-server only key", "addonResizer:\n  enabled: true\n", "additional properties 'addonResizer'"},
		{"misspelled key", "replica: 2\n", "additional properties 'replica'"},
		{"unknown tls type", "tls:\n  type: letsEncrypt\n", "/tls/type"},
		{"existing secret without name", "tls:\n  type: existingSecret\n  existingSecret:\n    caBundle: x\n", "/tls/existingSecret/name"},
		{"existing secret without CA", "tls:\n  type: existingSecret\n  existingSecret:\n    name: s\n", "/tls/existingSecret/caBundle"},
		{"tracing endpoint without port", "tracing:\n  enabled: true\n  endpoint: otel\n", "/tracing/endpoint"},
		{"host network on the kubelet port", "hostNetwork:\n  enabled: true\n", "kubelet's own port"},
		{"arg without dashes", "args: [metric-resolution=5s]\n", "/args/0"},
		{"bad interval", "serviceMonitor:\n  interval: 1 minute\n", "/serviceMonitor/interval"},
		{"pdb percentage typo", "podDisruptionBudget:\n  minAvailable: half\n", "/podDisruptionBudget/minAvailable"},
		{"audit policy of another kind", "audit:\n  enabled: true\n  policy:\n    apiVersion: v1\n    kind: ConfigMap\n", "/audit/policy/kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(f, []byte(tc.values), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := render.Chart(chartDir(t), []string{f}, render.Options{Release: release, Namespace: releaseNS})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error mentioning %q, got %v", tc.want, err)
			}
		})
	}
}

// TestChartMatchesManifests: installed with its defaults as release
// metrics-apiserver in kube-system, the chart runs the same container (args,
// probes, security, resources), grants the same RBAC and registers the same
// APIService as manifests/components.yaml.
func TestChartMatchesManifests(t *testing.T) {
	chart := renderScenario(t, nil, render.Options{Release: release, Namespace: ns})
	manifests := decodeFile(t, filepath.Join(repoRoot(t), "manifests", "components.yaml"))
	md := manifests.theDeployment(t)
	cc, mc := chart.dep.Spec.Template.Spec.Containers[0], md.Spec.Template.Spec.Containers[0]
	if a, b := slices.Sorted(slices.Values(cc.Args)), slices.Sorted(slices.Values(mc.Args)); !slices.Equal(a, b) {
		t.Errorf("args differ\nchart     %q\nmanifests %q", a, b)
	}
	for what, pair := range map[string][2]any{
		"ports":              {cc.Ports, mc.Ports},
		"livenessProbe":      {cc.LivenessProbe, mc.LivenessProbe},
		"readinessProbe":     {cc.ReadinessProbe, mc.ReadinessProbe},
		"resources":          {cc.Resources, mc.Resources},
		"securityContext":    {cc.SecurityContext, mc.SecurityContext},
		"podSecurityContext": {chart.dep.Spec.Template.Spec.SecurityContext, md.Spec.Template.Spec.SecurityContext},
		"priorityClassName":  {chart.dep.Spec.Template.Spec.PriorityClassName, md.Spec.Template.Spec.PriorityClassName},
		"nodeSelector":       {chart.dep.Spec.Template.Spec.NodeSelector, md.Spec.Template.Spec.NodeSelector},
		"strategy":           {chart.dep.Spec.Strategy, md.Spec.Strategy},
		"image":              {cc.Image, mc.Image},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("%s differ\nchart     %+v\nmanifests %+v", what, pair[0], pair[1])
		}
	}
	mapi := get[*apiregistrationv1.APIService](t, manifests, "APIService", "", "v1beta1.metrics.k8s.io")
	if !reflect.DeepEqual(chart.api.Spec, mapi.Spec) {
		t.Errorf("APIService spec differ\nchart     %+v\nmanifests %+v", chart.api.Spec, mapi.Spec)
	}
	for _, name := range []string{"system:metrics-apiserver", "system:aggregated-metrics-reader"} {
		a := get[*rbacv1.ClusterRole](t, chart.objects, "ClusterRole", "", name)
		b := get[*rbacv1.ClusterRole](t, manifests, "ClusterRole", "", name)
		if !reflect.DeepEqual(a.Rules, b.Rules) {
			t.Errorf("ClusterRole %s rules differ", name)
		}
	}
	for _, k := range manifests.order {
		kind := strings.SplitN(k, "/", 2)[0]
		if _, ok := chart.byKey[k]; !ok && kind != "Deployment" && kind != "Service" {
			t.Errorf("the chart has no %s", k)
		}
	}
}

// TestChartHelmTLSReusesSecret: on upgrade (lookup finds the Secret of the
// previous revision) the CA and certificate are kept, not regenerated.
func TestChartHelmTLSReusesSecret(t *testing.T) {
	first := renderScenario(t, []string{filepath.Join(chartDir(t), "ci", "tls-helm-values.yaml")}, render.Options{Release: release, Namespace: releaseNS})
	old := get[*corev1.Secret](t, first.objects, "Secret", releaseNS, release+"-tls")
	again := renderScenario(t, []string{filepath.Join(chartDir(t), "ci", "tls-helm-values.yaml")}, render.Options{Release: release, Namespace: releaseNS})
	if fresh := get[*corev1.Secret](t, again.objects, "Secret", releaseNS, release+"-tls"); string(fresh.Data["ca.crt"]) == string(old.Data["ca.crt"]) {
		t.Fatal("two installs without a previous Secret generated the same CA")
	}
	upgrade := renderScenario(t, []string{filepath.Join(chartDir(t), "ci", "tls-helm-values.yaml")},
		render.Options{Release: release, Namespace: releaseNS, Lookup: fakeLookup(t, old)})
	kept := get[*corev1.Secret](t, upgrade.objects, "Secret", releaseNS, release+"-tls")
	for _, k := range []string{"ca.crt", "tls.crt", "tls.key"} {
		if string(kept.Data[k]) != string(old.Data[k]) {
			t.Errorf("%s regenerated on upgrade", k)
		}
	}
	if string(upgrade.api.Spec.CABundle) != string(old.Data["ca.crt"]) {
		t.Error("APIService caBundle is not the kept CA")
	}
}
