// Package version holds the build's version, stamped by the linker:
//
//	-ldflags "-X github.com/metrics-apiserver/metrics-apiserver/pkg/version.gitVersion=v0.1.0 ..."
//
// k8s.io/component-base/version is deliberately left alone: the generic
// apiserver derives its emulated Kubernetes version from it.
package version

import (
	"fmt"
	"runtime"
)

var (
	gitVersion = "v0.0.0-dev"
	gitCommit  = "unknown"
	buildDate  = "1970-01-01T00:00:00Z"
)

// Info describes the build.
type Info struct {
	GitVersion string `json:"gitVersion"`
	GitCommit  string `json:"gitCommit"`
	BuildDate  string `json:"buildDate"`
	GoVersion  string `json:"goVersion"`
	Platform   string `json:"platform"`
}

// Get returns the build's version information.
func Get() Info {
	return Info{
		GitVersion: gitVersion,
		GitCommit:  gitCommit,
		BuildDate:  buildDate,
		GoVersion:  runtime.Version(),
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// String is the one-line form printed by --version.
func (i Info) String() string {
	return fmt.Sprintf("metrics-apiserver %s (commit %s, built %s, %s %s)", i.GitVersion, i.GitCommit, i.BuildDate, i.GoVersion, i.Platform)
}
