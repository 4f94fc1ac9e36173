package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  selector:
    matchLabels: {app: d}
  template:
    metadata:
      labels: {app: d}
    spec:
      containers:
      - name: c
        image: i
`

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, doc, wantErr string
	}{
		{name: "valid", doc: deployment},
		{name: "unknown field", doc: strings.Replace(deployment, "image: i", "image: i\n        imagePulPolicy: Always", 1), wantErr: `unknown field "spec.template.spec.containers[0].imagePulPolicy"`},
		{name: "duplicate field", doc: strings.Replace(deployment, "image: i", "image: i\n        image: j", 1), wantErr: `key "image" already set`},
		{name: "wrong type", doc: strings.Replace(deployment, "spec:\n  selector", "spec:\n  replicas: two\n  selector", 1), wantErr: "replicas"},
		{name: "unknown kind", doc: "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n", wantErr: "no kind"},
		{name: "no kind", doc: "metadata: {name: w}\n", wantErr: "Kind' is missing"},
		{name: "APIService", doc: "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: v1beta1.metrics.k8s.io}\nspec: {group: metrics.k8s.io, version: v1beta1, groupPriorityMinimum: 100, versionPriority: 100}\n"},
		{name: "APIService unknown field", doc: "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: x}\nspec: {insecureSkipTLSVerfy: true}\n", wantErr: "unknown field"},
		{name: "ServiceMonitor unknown field", doc: "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec: {endpoints: [{port: https, intervall: 1m}], selector: {}}\n", wantErr: "unknown field"},
		{name: "Certificate unknown field", doc: "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: x}\nspec: {secretName: s, dnsName: [a], issuerRef: {name: i}}\n", wantErr: "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := Decode([]byte(tc.doc))
			if tc.wantErr == "" {
				if err != nil || obj == nil {
					t.Fatalf("want an object, got %v, %v", obj, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("want an error mentioning %q, got %v", tc.wantErr, err)
			}
		})
	}
}

func TestDecodeConfig(t *testing.T) {
	if _, err := DecodeConfig([]byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Metadata}]\n")); err != nil {
		t.Error(err)
	}
	if _, err := DecodeConfig([]byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{levl: Metadata}]\n")); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("want an unknown field error, got %v", err)
	}
	if _, err := DecodeConfig([]byte("apiVersion: apiserver.config.k8s.io/v1\nkind: TracingConfiguration\nendpoint: otel:4317\nsamplingRate: 1\n")); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("want an unknown field error, got %v", err)
	}
}

func TestDecodeAll(t *testing.T) {
	stream := "# only a comment\n---\n" + deployment + "---\n\n---\napiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: a}\n"
	objs, err := DecodeAll([]byte(stream))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("%d objects, want 2", len(objs))
	}
	if _, ok := objs[0].(*appsv1.Deployment); !ok {
		t.Errorf("first is %T", objs[0])
	}
	if _, ok := objs[1].(*apiregistrationv1.APIService); !ok {
		t.Errorf("second is %T", objs[1])
	}
	// every bad document is reported, not only the first
	bad := strings.Replace(deployment, "image: i", "imag: i", 1)
	_, err = DecodeAll([]byte(bad + "---\n" + bad))
	if err == nil || !strings.Contains(err.Error(), "document 1") || !strings.Contains(err.Error(), "document 2") {
		t.Errorf("want errors for documents 1 and 2, got %v", err)
	}
}

func TestChartErrors(t *testing.T) {
	if _, err := Chart(filepath.Join(t.TempDir(), "none"), nil, Options{}); err == nil {
		t.Error("a missing chart rendered")
	}
	dir := t.TempDir()
	if _, _, err := Scenarios(dir); err == nil {
		t.Error("a chart without ci/*-values.yaml has scenarios")
	}
	// a tiny chart with a hook: the real chart has none, and render says so
	must(t, os.MkdirAll(filepath.Join(dir, "templates"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte("apiVersion: v2\nname: c\nversion: 0.1.0\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "templates", "job.yaml"), []byte(
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: h\n  annotations: {helm.sh/hook: pre-install}\n"), 0o644))
	if _, err := Chart(dir, nil, Options{}); err == nil || !strings.Contains(err.Error(), "hooks") {
		t.Errorf("want a hooks error, got %v", err)
	}
	// strict mode: a reference to a value that does not exist fails
	must(t, os.WriteFile(filepath.Join(dir, "templates", "job.yaml"), []byte(
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.nmae }}\n"), 0o644))
	if _, err := Chart(dir, nil, Options{}); err == nil || !strings.Contains(err.Error(), "nmae") {
		t.Errorf("want a missing value error, got %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
