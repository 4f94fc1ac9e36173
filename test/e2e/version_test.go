package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	apimachineryversion "k8s.io/apimachinery/pkg/version"
)

// TestVersionEndpoint checks that /version on the secure port names the
// build that serves it, as `metrics-apiserver --version` prints it, and not
// the unstamped placeholders of k8s.io/component-base/version.
func TestVersionEndpoint(t *testing.T) {
	out, err := exec.Command(filepath.Join(env.binDir, "metrics-apiserver"), "--version").Output()
	if err != nil {
		t.Fatalf("metrics-apiserver --version: %v", err)
	}
	// "metrics-apiserver <gitVersion> (commit <gitCommit>, built <buildDate>, ...)"
	fields := strings.Fields(string(out))
	if len(fields) < 4 || fields[0] != "metrics-apiserver" || fields[2] != "(commit" {
		t.Fatalf("unexpected --version output %q", out)
	}
	wantVersion, wantCommit := fields[1], strings.TrimSuffix(fields[3], ",")

	code, body, err := getPath(securePortClient(t, adminCert(t)), metricsPort(), "/version", nil)
	if err != nil || code != 200 {
		t.Fatalf("GET /version: %d %v %s", code, err, body)
	}
	var info apimachineryversion.Info
	if err := json.Unmarshal(body, &info); err != nil {
		t.Fatalf("decoding /version %s: %v", body, err)
	}
	if info.GitVersion != wantVersion || info.GitCommit != wantCommit {
		t.Errorf("/version gitVersion %q gitCommit %q, want %q %q (from --version)", info.GitVersion, info.GitCommit, wantVersion, wantCommit)
	}
	if info.Major == "" || info.Minor == "" {
		t.Errorf("/version has no major/minor (the libraries' Kubernetes release): %s", body)
	}
}
