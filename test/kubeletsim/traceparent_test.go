package kubeletsim

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	"k8s.io/klog/v2"
)

// TestLogTraceparent checks that --log-traceparent logs the header with the
// node it reached, and that nothing is logged without the flag or header.
func TestLogTraceparent(t *testing.T) {
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	tests := []struct {
		name    string
		enabled bool
		header  string
		want    []string // substrings of the one expected line; nil: no line
	}{
		{"enabled with header", true, tp, []string{`"node"={"name"="node-b"}`, `"traceparent"="` + tp + `"`, `"path"="/metrics/resource"`}},
		{"enabled without header", true, "", nil},
		{"disabled", false, tp, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var lines []string
			klog.SetLogger(funcr.New(func(prefix, args string) {
				mu.Lock()
				defer mu.Unlock()
				if strings.Contains(args, "traceparent") {
					lines = append(lines, fmt.Sprint(prefix, args))
				}
			}, funcr.Options{}))
			t.Cleanup(klog.ClearLogger)

			ts := startServer(t, Config{LogTraceparent: tc.enabled})
			header := map[string]string{}
			if tc.header != "" {
				header["traceparent"] = tc.header
			}
			resp, _, err := get(t, ts.client("node-b"), ts.url(1, ResourceMetricsPath), header)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			mu.Lock()
			defer mu.Unlock()
			if tc.want == nil {
				if len(lines) != 0 {
					t.Fatalf("logged %q, want nothing", lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("logged %q, want one line", lines)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("line %q lacks %s", lines[0], w)
				}
			}
		})
	}
}
