package options

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/server"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		modify  func(o *Options)
		wantErr string // substring; empty means valid
	}{
		{"defaults", func(*Options) {}, ""},
		{"resolution too small", func(o *Options) { o.MetricResolution = 500 * time.Millisecond }, "--metric-resolution"},
		{"timeout above resolution", func(o *Options) { o.MetricResolution = 5 * time.Second }, "--kubelet-request-timeout"},
		{"ring too small", func(o *Options) { o.StorePoints = 1 }, "--store-points"},
		{"ring negative", func(o *Options) { o.StorePoints = -2 }, "--store-points"},
		{"no concurrency", func(o *Options) { o.ScrapeConcurrency = 0 }, "--scrape-concurrency"},
		{"negative staleness", func(o *Options) { o.MetricMaxStaleness = -time.Second }, "--metric-max-staleness"},
		{"bad address type", func(o *Options) { o.Kubelet.PreferredAddressTypes = []string{"InternalIP", "Bogus"} }, "Bogus"},
		{"cert without key", func(o *Options) { o.Kubelet.ClientCertFile = "c.pem" }, "--kubelet-client-key"},
		{"insecure and CA", func(o *Options) { o.Kubelet.InsecureTLS, o.Kubelet.CAFile = true, "ca.pem" }, "mutually exclusive"},
		{"bad port", func(o *Options) { o.Kubelet.Port = 70000 }, "--kubelet-port"},
		{"bad node selector", func(o *Options) { o.Kubelet.NodeSelector = "a in (" }, "--node-selector"},
		{"body cap", func(o *Options) { o.Kubelet.MaxBodyBytes = 0 }, "--kubelet-max-response-bytes"},
		{"unknown log format", func(o *Options) { o.Logging.Format = "xml" }, "Unsupported log format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions()
			tc.modify(o)
			errs := o.Validate()
			var msgs []string
			for _, err := range errs {
				msgs = append(msgs, err.Error())
			}
			joined := strings.Join(msgs, "; ")
			switch {
			case tc.wantErr == "" && len(errs) > 0:
				t.Errorf("unexpected errors: %s", joined)
			case tc.wantErr != "" && !strings.Contains(joined, tc.wantErr):
				t.Errorf("errors %q do not mention %q", joined, tc.wantErr)
			}
		})
	}
}

func TestStorePoints(t *testing.T) {
	tests := []struct {
		name       string
		points     int
		resolution time.Duration
		window     time.Duration
		want       int
	}{
		{"rate over the last two points", 0, 15 * time.Second, 0, 2},
		{"window of one resolution", 0, 15 * time.Second, 15 * time.Second, 2},
		{"window of two resolutions", 0, 15 * time.Second, 30 * time.Second, 3},
		{"window between resolutions rounds up", 0, 15 * time.Second, 40 * time.Second, 4},
		{"window beyond the largest ring", 0, time.Second, time.Hour, 255},
		{"explicit wins", 5, 15 * time.Second, 0, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions()
			o.StorePoints, o.MetricResolution, o.CPUWindow = tc.points, tc.resolution, tc.window
			if got := o.storePoints(); got != tc.want {
				t.Errorf("storePoints() = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestFlagNamesFollowMetricsServer(t *testing.T) {
	// A user switching from metrics-server v0.9 keeps these flags as they are.
	fs := NewOptions().Flags()
	for _, name := range []string{
		"metric-resolution", "kubeconfig", "kubelet-port", "kubelet-use-node-status-port",
		"kubelet-preferred-address-types", "kubelet-certificate-authority", "kubelet-client-certificate",
		"kubelet-client-key", "kubelet-insecure-tls", "kubelet-request-timeout", "node-selector",
		"secure-port", "cert-dir", "tls-cert-file", "tls-private-key-file", "requestheader-client-ca-file",
		"authentication-kubeconfig", "authorization-kubeconfig", "audit-policy-file", "logging-format", "version",
	} {
		found := false
		for _, set := range fs.FlagSets {
			if set.Lookup(name) != nil {
				found = true
			}
		}
		if !found {
			t.Errorf("flag --%s missing", name)
		}
	}
}

func TestClusterCAKeys(t *testing.T) {
	both := []string{server.ClientCAKey, server.RequestHeaderCAKey}
	tests := []struct {
		args          []string
		requestHeader bool // the front proxy's lookup succeeded
		want          []string
	}{
		{nil, true, both},
		{nil, false, []string{server.ClientCAKey}}, // lookup failed, tolerated
		{[]string{"--client-ca-file=/etc/ca.crt"}, true, []string{server.RequestHeaderCAKey}},
		{[]string{"--requestheader-client-ca-file=/etc/front-proxy-ca.crt"}, true, []string{server.ClientCAKey}},
		{[]string{"--client-ca-file=/etc/ca.crt", "--requestheader-client-ca-file=/etc/front-proxy-ca.crt"}, true, nil},
		{[]string{"--authentication-skip-lookup"}, true, nil},
	}
	for _, tc := range tests {
		o := NewOptions()
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		for _, set := range o.Flags().FlagSets {
			fs.AddFlagSet(set)
		}
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if got := o.clusterCAKeys(tc.requestHeader); !slices.Equal(got, tc.want) {
			t.Errorf("%v (front proxy looked up: %v): CAs from the cluster %v, want %v", tc.args, tc.requestHeader, got, tc.want)
		}
	}
}
