// Command render writes the metrics-apiserver chart, rendered for each of its
// ci/*-values.yaml scenarios, to one file per scenario (<scenario>.yaml) in
// -out. The end-to-end tests apply them with kubectl --dry-run=server.
//
//	go run ./cmd/render -chart ../../charts/metrics-apiserver -out /tmp/rendered
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/metrics-apiserver/metrics-apiserver/test/deploy/render"
)

func main() {
	chart := flag.String("chart", "../../charts/metrics-apiserver", "chart directory")
	out := flag.String("out", "", "directory the rendered scenarios are written to (created if missing)")
	release := flag.String("release", render.DefaultRelease, "release name")
	namespace := flag.String("namespace", render.DefaultNamespace, "release namespace")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "-out is required")
		os.Exit(2)
	}
	if err := run(*chart, *out, render.Options{Release: *release, Namespace: *namespace}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(chart, out string, opts render.Options) error {
	files, names, err := render.Scenarios(chart)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, name := range names {
		res, err := render.Chart(chart, []string{files[name]}, opts)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", name, err)
		}
		// decoded strictly here too, so a broken render never reaches kubectl
		if _, err := render.DecodeAll([]byte(res.YAML())); err != nil {
			return fmt.Errorf("scenario %s: %w", name, err)
		}
		path := filepath.Join(out, name+".yaml")
		if err := os.WriteFile(path, []byte(res.YAML()), 0o644); err != nil {
			return err
		}
		fmt.Println(path)
	}
	return nil
}
