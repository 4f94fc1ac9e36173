package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoadGetsAtRateIsOpenLoop holds the first get until every other one has
// arrived: an open loop sends them on schedule anyway (a closed loop would
// wait for the first forever), and the first's latency covers the whole
// hold.
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
	var nodes nodeMetricsList
	nodes.Items = make([]struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Timestamp time.Time `json:"timestamp"`
	}, 1)
	nodes.Items[0].Metadata.Name = "node-a"
	s, errs := loadGetsAtRate(context.Background(), srv.Client(), target{Name: "test", URL: srv.URL}, c, nodes)
	if errs != 0 || s.Count != gets {
		t.Fatalf("%v gets, %d errors; want %d, 0", s.Count, errs, gets)
	}
	// the first was sent at the start and answered after the last was sent,
	// (gets-1) intervals later
	if minHold := float64(gets-1) / c.getRate; s.Max < minHold {
		t.Errorf("slowest get %.4fs, want at least %.4fs: latencies are not counted from when a get was due", s.Max, minHold)
	}
}
