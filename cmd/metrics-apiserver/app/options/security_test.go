package options

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

func TestAnonymousOnlyForPublicPaths(t *testing.T) {
	anonymous := &authenticator.Response{User: &user.DefaultInfo{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}}
	alice := &authenticator.Response{User: &user.DefaultInfo{Name: "alice"}}
	boom := errors.New("token review failed")
	defaults := NewOptions().Authorization.AlwaysAllowPaths
	withMetrics := append(append([]string{}, defaults...), "/metrics")
	tests := []struct {
		public []string
		path   string
		inner  *authenticator.Response
		err    error
		wantOK bool
	}{
		{defaults, "/readyz", anonymous, nil, true},
		{defaults, "/livez", anonymous, nil, true},
		{defaults, "/healthz", anonymous, nil, true},
		{defaults, "/readyz/metrics-data", anonymous, nil, false},
		{defaults, "/livez/ping", anonymous, nil, false},
		{defaults, "/healthzz", anonymous, nil, false},
		{defaults, "/metrics", anonymous, nil, false},
		{defaults, "/apis/metrics.k8s.io/v1beta1/nodes", anonymous, nil, false},
		{defaults, "/openapi/v2", anonymous, nil, false},
		{defaults, "/debug/pprof/", anonymous, nil, false},
		{defaults, "/apis/metrics.k8s.io/v1beta1/nodes", alice, nil, true},
		{defaults, "/metrics", alice, nil, true},
		{defaults, "/apis", nil, boom, false},
		// the chart's metrics.allowAnonymous adds /metrics to --authorization-always-allow-paths
		{withMetrics, "/metrics", anonymous, nil, true},
		{withMetrics, "/metrics/slis", anonymous, nil, false},
		{[]string{"/debug/*"}, "/debug/pprof/heap", anonymous, nil, true},
		{[]string{"/debug/*"}, "/deb", anonymous, nil, false},
		{nil, "/readyz", anonymous, nil, false},
	}
	for _, tc := range tests {
		inner := authenticator.RequestFunc(func(*http.Request) (*authenticator.Response, bool, error) {
			return tc.inner, tc.inner != nil, tc.err
		})
		resp, ok, err := anonymousOnlyForPublicPaths(inner, tc.public).AuthenticateRequest(httptest.NewRequest(http.MethodGet, tc.path, nil))
		if ok != tc.wantOK {
			t.Errorf("%s (public %v) as %v: authenticated %v, want %v", tc.path, tc.public, tc.inner, ok, tc.wantOK)
		}
		if ok && resp != tc.inner {
			t.Errorf("%s: response %v, want the inner one", tc.path, resp)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: error %v, want %v", tc.path, err, tc.err)
		}
	}
	if anonymousOnlyForPublicPaths(nil, defaults) != nil {
		t.Error("a nil authenticator must stay nil (authentication off)")
	}
}

func TestValidateTLSMinVersion(t *testing.T) {
	for v, wantErr := range map[string]bool{
		"": false, "VersionTLS12": false, "VersionTLS13": false,
		"VersionTLS10": true, "VersionTLS11": true,
		"bogus": false, // reported by the secure serving options
	} {
		if err := validateTLSMinVersion(v); (err != nil) != wantErr {
			t.Errorf("%q: %v, want error %v", v, err, wantErr)
		}
	}
}

// TestSecurityDefaults: profiling is opt-in, and TLS 1.1 is refused.
func TestSecurityDefaults(t *testing.T) {
	o := NewOptions()
	if o.Features.EnableProfiling {
		t.Error("profiling is on by default")
	}
	fs := o.Flags()
	if f := fs.FlagSet("features").Lookup("profiling"); f == nil || f.DefValue != "false" {
		t.Errorf("--profiling flag: %+v", f)
	}
	o.SecureServing.MinTLSVersion = "VersionTLS11"
	var found bool
	for _, err := range o.Validate() {
		found = found || strings.Contains(err.Error(), "TLS 1.2 is the minimum")
	}
	if !found {
		t.Error("--tls-min-version VersionTLS11 accepted")
	}
}
