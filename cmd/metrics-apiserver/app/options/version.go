/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package options

import (
	apimachineryversion "k8s.io/apimachinery/pkg/version"
	basecompatibility "k8s.io/component-base/compatibility"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/version"
)

// buildVersion is the generic apiserver's effective version with this
// build's identity in what /version serves. The effective version itself
// (binary, emulation and minimum compatibility version) stays the Kubernetes
// release of the k8s.io/* libraries, which the feature gates and the generic
// server's API enablement refer to, and so do /version's major and minor;
// its gitVersion, gitCommit and buildDate would otherwise be
// k8s.io/component-base/version's unstamped placeholders
// ("v0.0.0-master+$Format:%H$"), since the linker stamps pkg/version only.
type buildVersion struct {
	basecompatibility.EffectiveVersion
}

// Info returns the libraries' version information with this build's
// gitVersion, gitCommit and buildDate.
func (v buildVersion) Info() *apimachineryversion.Info {
	info := v.EffectiveVersion.Info()
	if info == nil {
		return nil
	}
	b := version.Get()
	info.GitVersion, info.GitCommit, info.BuildDate = b.GitVersion, b.GitCommit, b.BuildDate
	info.GitTreeState = ""
	return info
}
