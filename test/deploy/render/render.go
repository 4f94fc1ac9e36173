// Package render renders the metrics-apiserver Helm chart with the code
// `helm template` runs (chart loader, values coalescing with values.schema.json
// validation, template engine, install-order sort) and decodes the objects
// strictly.
package render

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
)

// Defaults of Options: the names metrics-server's install uses.
const (
	DefaultRelease   = "metrics-apiserver"
	DefaultNamespace = "kube-system"
)

// Options says how to render.
type Options struct {
	// Release and Namespace are `helm template`'s NAME and --namespace;
	// empty means DefaultRelease and DefaultNamespace.
	Release, Namespace string
	// Lax turns off the engine's strict mode (which fails on a reference to
	// a value that does not exist) for rendering with a lookup client.
	Lax bool
	// Lookup, when set, answers the templates' `lookup` calls.
	Lookup engine.ClientProvider
}

// Manifest is one rendered object.
type Manifest struct {
	// Source is the template it came from, e.g. metrics-apiserver/templates/deployment.yaml.
	Source string
	// YAML is the object's document.
	YAML string
}

// Result is a rendered chart.
type Result struct {
	// Manifests in Helm's install order.
	Manifests []Manifest
	// Notes is the rendered NOTES.txt.
	Notes string
}

// Chart renders the chart in chartDir with the values files merged in order
// over the chart's values.yaml, as `helm template -f a.yaml -f b.yaml` does.
// Values that break values.schema.json, template errors and hooks are errors.
func Chart(chartDir string, valuesFiles []string, opts Options) (*Result, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %w", chartDir, err)
	}
	vals := map[string]any{}
	for _, f := range valuesFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		m, err := loader.LoadValues(strings.NewReader(string(data)))
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", f, err)
		}
		vals = loader.MergeMaps(vals, m)
	}
	if opts.Release == "" {
		opts.Release = DefaultRelease
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	release := common.ReleaseOptions{Name: opts.Release, Namespace: opts.Namespace, Revision: 1, IsInstall: true}
	top, err := util.ToRenderValuesWithSchemaValidation(ch, vals, release, common.DefaultCapabilities.Copy(), false)
	if err != nil {
		return nil, err
	}
	var files map[string]string
	if opts.Lookup != nil {
		files, err = engine.RenderWithClientProvider(ch, top, opts.Lookup)
	} else {
		files, err = engine.Engine{Strict: !opts.Lax}.RenderWithContext(context.Background(), ch, top)
	}
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for name, content := range files {
		if strings.HasSuffix(name, "/NOTES.txt") {
			res.Notes = content
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	if len(hooks) > 0 {
		return nil, fmt.Errorf("the chart has %d hooks; it is meant to have none", len(hooks))
	}
	for _, m := range manifests {
		res.Manifests = append(res.Manifests, Manifest{Source: m.Name, YAML: m.Content})
	}
	return res, nil
}

// YAML joins the manifests into one multi-document stream, each with a
// "# Source:" comment, like `helm template` prints.
func (r *Result) YAML() string {
	var b strings.Builder
	for _, m := range r.Manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Source, strings.TrimSpace(m.YAML))
	}
	return b.String()
}

// Scenarios returns the chart's ci/*-values.yaml files, sorted, keyed by the
// scenario name (the file name without "-values.yaml").
func Scenarios(chartDir string) (map[string]string, []string, error) {
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil {
		return nil, nil, err
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("no ci/*-values.yaml in %s", chartDir)
	}
	byName := make(map[string]string, len(files))
	names := make([]string, 0, len(files))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), "-values.yaml")
		byName[name] = f
		names = append(names, name)
	}
	sort.Strings(names)
	return byName, names, nil
}
