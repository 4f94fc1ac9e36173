package options

import (
	"testing"

	utilcompatibility "k8s.io/apiserver/pkg/util/compatibility"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/version"
)

func TestBuildVersionInfo(t *testing.T) {
	lib := utilcompatibility.DefaultBuildEffectiveVersion()
	v := buildVersion{lib}
	got, want := v.Info(), lib.Info()
	b := version.Get()
	if got.GitVersion != b.GitVersion || got.GitCommit != b.GitCommit || got.BuildDate != b.BuildDate {
		t.Errorf("Info() = %s %s %s, want this build's %s %s %s", got.GitVersion, got.GitCommit, got.BuildDate, b.GitVersion, b.GitCommit, b.BuildDate)
	}
	if got.Major != want.Major || got.Minor != want.Minor || got.EmulationMinor != want.EmulationMinor {
		t.Errorf("Info() major/minor/emulation %s/%s/%s, want the libraries' %s/%s/%s", got.Major, got.Minor, got.EmulationMinor, want.Major, want.Minor, want.EmulationMinor)
	}
	if !v.EmulationVersion().EqualTo(lib.EmulationVersion()) {
		t.Errorf("EmulationVersion %v, want the libraries' %v", v.EmulationVersion(), lib.EmulationVersion())
	}
}
