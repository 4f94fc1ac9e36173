package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoadGetsAtRateIsOpenLoop holds the first get until every other one has
// arrived: an open loop sends them on schedule anyway (a closed loop would
// wait for the first forever), and the held get's latency covers the hold.
func TestLoadGetsAtRateIsOpenLoop(t *testing.T) {
	const gets = 20
	var arrived atomic.Int32
	allIn := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/apis/metrics.k8s.io/v1beta1/namespaces/fleet/pods/node-a-p") {
			http.NotFound(w, r)
			return
		}
		n := arrived.Add(1)
		if n == gets {
			close(allIn)
		}
		if n == 1 {
			<-allIn
		}
	}))
	defer srv.Close()
	c := config{namespace: "fleet", pods: 30, getRate: 1000, rateGets: gets, loadTimeout: time.Minute}
	s, errs := loadGetsAtRate(context.Background(), srv.Client(), target{Name: "test", URL: srv.URL}, c, oneNode("node-a"))
	if errs != 0 || s.Count != gets {
		t.Fatalf("%v gets, %d errors; want %d, 0", s.Count, errs, gets)
	}
	// the held get (the first to arrive, one of the first sent) was answered
	// after the last was sent, (gets-1) intervals after the first: allow the
	// held one to be any of the first half
	if minHold := float64(gets/2-1) / c.getRate; s.Max < minHold {
		t.Errorf("slowest get %.4fs, want at least %.4fs: the held get's latency does not cover the hold", s.Max, minHold)
	}
}

// TestLoadGets: the closed loop sends exactly c.gets gets and counts the
// ones that fail (a pod the server does not know) apart.
func TestLoadGets(t *testing.T) {
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if strings.HasSuffix(r.URL.Path, "-p0") {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := config{namespace: "fleet", pods: 2, gets: 200, getWorkers: 4, loadTimeout: time.Minute}
	s, errs := loadGets(context.Background(), srv.Client(), target{Name: "test", URL: srv.URL}, c, oneNode("node-a"))
	if int(served.Load()) != c.gets || s.Count+errs != c.gets || errs == 0 || s.Count == 0 {
		t.Errorf("served %d, %d answered and %d errors; want %d in all, some of each", served.Load(), s.Count, errs, c.gets)
	}
}

func oneNode(name string) nodeMetricsList {
	var nodes nodeMetricsList
	nodes.Items = make([]struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Timestamp time.Time `json:"timestamp"`
	}, 1)
	nodes.Items[0].Metadata.Name = name
	return nodes
}

func TestLoadGetsRunsForAtLeast(t *testing.T) {
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served.Add(1) }))
	defer srv.Close()
	c := config{namespace: "fleet", pods: 2, gets: 5, getsFor: 300 * time.Millisecond, getWorkers: 2, loadTimeout: time.Minute}
	start := time.Now()
	s, errs := loadGets(context.Background(), srv.Client(), target{Name: "test", URL: srv.URL}, c, oneNode("node-a"))
	if took := time.Since(start); took < c.getsFor || s.Count <= c.gets || errs != 0 {
		t.Errorf("took %v with %d gets and %d errors; want at least %v and more than %d gets", took, s.Count, errs, c.getsFor, c.gets)
	}
}

// TestServedWithin reads the server's histogram before and after a phase;
// before the phase the labelled series does not exist yet.
func TestServedWithin(t *testing.T) {
	var calls atomic.Int32
	const labels = `component="apiserver",group="metrics.k8s.io",resource="pods",scope="resource",verb="GET",version="v1beta1"`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, `apiserver_request_duration_seconds_bucket{verb="LIST",group="metrics.k8s.io",resource="pods",le="0.005"} 7`)
		if calls.Add(1) > 1 {
			fmt.Fprintf(w, "apiserver_request_duration_seconds_bucket{%s,le=\"0.005\"} 3\n", labels)
			fmt.Fprintf(w, "apiserver_request_duration_seconds_bucket{%s,le=\"0.025\"} 4\n", labels)
			fmt.Fprintf(w, "apiserver_request_duration_seconds_bucket{%s,le=\"+Inf\"} 4\n", labels)
		}
	}))
	defer srv.Close()
	ran := false
	got := servedWithin(context.Background(), srv.Client(), target{Name: "test", URL: srv.URL}, 0.005, func() { ran = true })
	if !ran || got != 0.75 {
		t.Errorf("servedWithin = %v (phase ran: %v), want 0.75", got, ran)
	}
	if got := servedWithin(context.Background(), srv.Client(), target{Name: "test", URL: srv.URL}, 0.005, func() {}); got != -1 {
		t.Errorf("servedWithin with no gets in the phase = %v, want -1", got)
	}
}
