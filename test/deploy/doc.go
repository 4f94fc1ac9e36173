// Package deploy holds the tests of the deployment artifacts: the Helm chart
// in charts/metrics-apiserver (rendered with Helm's own Go packages for every
// ci/*-values.yaml scenario) and the kustomize-rendered manifests/*.yaml. Every
// object is decoded strictly with the client-go, apiregistration, cert-manager
// and Prometheus Operator schemes, and the Deployment is checked for the
// hardening the issue asks for.
//
// This is a module of its own so that Helm and its dependencies stay out of
// the server's go.mod. Run it with `cd test/deploy && go test ./...`.
package deploy
