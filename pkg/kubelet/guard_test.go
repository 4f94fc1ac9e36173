/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package kubelet

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

// fakeScraper answers every Scrape with its fields, filling the batch.
type fakeScraper struct {
	info    ScrapeInfo
	err     error
	fill    func(b *storage.NodeBatch)
	sawNode string
}

func (f *fakeScraper) Scrape(ctx context.Context, node *corev1.Node, _ *Decoder, b *storage.NodeBatch) (ScrapeInfo, error) {
	f.sawNode, _ = NodeNameFrom(ctx)
	b.Reset(node.Name)
	if f.fill != nil {
		f.fill(b)
	}
	return f.info, f.err
}

func namedNode(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func TestCheckClock(t *testing.T) {
	recv := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()
	node := func(off time.Duration) func(*storage.NodeBatch) {
		return func(b *storage.NodeBatch) {
			b.ScrapedAt = recv
			b.NodePoint = storage.Point{Timestamp: recv + int64(off), Valid: storage.HasCPU}
		}
	}
	containers := func(offs ...time.Duration) func(*storage.NodeBatch) {
		return func(b *storage.NodeBatch) {
			b.ScrapedAt = recv
			for _, o := range offs {
				b.Containers = append(b.Containers, storage.ContainerPoint{Point: storage.Point{Timestamp: recv + int64(o), Valid: storage.HasMemory}})
			}
		}
	}
	tests := []struct {
		name    string
		fill    func(*storage.NodeBatch)
		wantErr string // "" for no error
	}{
		{"in step", node(0), ""},
		{"cadvisor lag", node(-30 * time.Second), ""},
		{"just inside the limit ahead", node(MaxClockSkew), ""},
		{"just inside the limit behind", node(-MaxClockSkew), ""},
		{"far future", node(365 * 24 * time.Hour), "2027-01-02T03:04:05Z, 8760h0m0s ahead of the local clock"},
		{"far past", node(-11 * time.Minute), "11m0s behind the local clock"},
		{"no node sample: newest container decides", containers(-time.Hour, -time.Second), ""},
		{"no node sample: all containers behind", containers(-time.Hour, -20*time.Minute), "20m0s behind"},
		{"nothing sampled", func(b *storage.NodeBatch) { b.ScrapedAt = recv }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGuard(&fakeScraper{fill: tc.fill, info: ScrapeInfo{Address: "10.0.0.1:10250"}})
			var b storage.NodeBatch
			_, err := g.Scrape(context.Background(), namedNode("n"), NewDecoder(), &b)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if Reason(err) != ReasonClockSkew || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "10.0.0.1:10250") {
				t.Fatalf("err %v (reason %q), want clock_skew with %q", err, Reason(err), tc.wantErr)
			}
		})
	}
}

func TestGuardNamesTheNode(t *testing.T) {
	f := &fakeScraper{}
	var b storage.NodeBatch
	if _, err := NewGuard(f).Scrape(context.Background(), namedNode("worker-7"), NewDecoder(), &b); err != nil {
		t.Fatal(err)
	}
	if f.sawNode != "worker-7" {
		t.Errorf("the scrape's context names %q, want worker-7", f.sawNode)
	}
}

// TestFailingNodesGauge walks nodes through outcomes and compares the gauge.
func TestFailingNodesGauge(t *testing.T) {
	failingNodes.Reset()
	reg := metrics.NewKubeRegistry()
	if err := RegisterMetrics(reg.Register); err != nil {
		t.Fatal(err)
	}
	timeout := &ScrapeError{Reason: ReasonTimeout, Err: context.DeadlineExceeded}
	status := &ScrapeError{Reason: ReasonHTTPStatus, StatusCode: 500}
	canceled := &ScrapeError{Reason: ReasonCanceled, Err: context.Canceled}
	f := &fakeScraper{}
	g := NewGuard(f)
	scrape := func(node string, err error, rejected int) {
		f.err, f.info = err, ScrapeInfo{Rejected: rejected}
		var b storage.NodeBatch
		_, _ = g.Scrape(context.Background(), namedNode(node), NewDecoder(), &b)
	}
	steps := []struct {
		name string
		do   func()
		want map[string]int // every series exported: reason -> nodes
	}{
		{"all fine", func() { scrape("a", nil, 0); scrape("b", nil, 0) }, nil},
		{"a times out", func() { scrape("a", timeout, 0) }, map[string]int{"timeout": 1}},
		{"a again: counted once", func() { scrape("a", timeout, 0) }, map[string]int{"timeout": 1}},
		{"b answers 500", func() { scrape("b", status, 0) }, map[string]int{"timeout": 1, "http_status": 1}},
		{"a recovers with rejected samples", func() { scrape("a", nil, 2) }, map[string]int{"timeout": 0, "http_status": 1, "rejected_samples": 1}},
		{"shutdown cancels b: state kept", func() { scrape("b", canceled, 0) }, map[string]int{"timeout": 0, "http_status": 1, "rejected_samples": 1}},
		{"b deleted", func() { g.Forget("b") }, map[string]int{"timeout": 0, "http_status": 0, "rejected_samples": 1}},
		{"unknown node forgotten", func() { g.Forget("zz") }, map[string]int{"timeout": 0, "http_status": 0, "rejected_samples": 1}},
		{"a clean", func() { scrape("a", nil, 0) }, map[string]int{"timeout": 0, "http_status": 0, "rejected_samples": 0}},
	}
	for _, s := range steps {
		s.do()
		want := ""
		if len(s.want) > 0 {
			want = "# HELP metrics_apiserver_kubelet_failing_nodes [ALPHA] " + failingNodesHelp + "\n" +
				"# TYPE metrics_apiserver_kubelet_failing_nodes gauge\n"
			for _, r := range []string{"http_status", "rejected_samples", "timeout"} {
				if n, ok := s.want[r]; ok {
					want += fmt.Sprintf("metrics_apiserver_kubelet_failing_nodes{reason=%q} %d\n", r, n)
				}
			}
		}
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "metrics_apiserver_kubelet_failing_nodes"); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	if r := g.Failing("a"); r != "" {
		t.Errorf("Failing(a) = %q after a clean scrape", r)
	}
}
