package options

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	cliflag "k8s.io/component-base/cli/flag"
)

// anonymousOnlyForPublicPaths wraps the delegated authenticator, which
// always admits requests without credentials as system:anonymous (the stock
// DelegatingAuthenticationOptions.ApplyTo enables anonymous authentication
// unconditionally; authorization would then refuse them with 403). Here a
// request without credentials gets 401 (unauthenticated, not forbidden) on
// every path but the public ones: those of --authorization-always-allow-paths,
// by default /healthz, /livez and /readyz, which the kubelet's probes reach
// without credentials (and /metrics too when an operator adds it there).
// A trailing * in a public path matches any suffix, as it does for the
// authorizer.
func anonymousOnlyForPublicPaths(a authenticator.Request, public []string) authenticator.Request {
	if a == nil {
		return nil
	}
	return authenticator.RequestFunc(func(req *http.Request) (*authenticator.Response, bool, error) {
		resp, ok, err := a.AuthenticateRequest(req)
		if ok && resp != nil && resp.User != nil && resp.User.GetName() == user.Anonymous && !isPublicPath(req.URL.Path, public) {
			return nil, false, nil
		}
		return resp, ok, err
	})
}

// isPublicPath: exactly a public path (so /readyz/metrics-data, which
// authorization does not open to everyone, needs credentials), or a prefix
// given with a trailing *.
func isPublicPath(p string, public []string) bool {
	for _, a := range public {
		if prefix, ok := strings.CutSuffix(a, "*"); ok && strings.HasPrefix(p, prefix) || p == a {
			return true
		}
	}
	return false
}

// validateTLSMinVersion keeps the serving port at TLS 1.2 or newer, whatever
// --tls-min-version says.
func validateTLSMinVersion(v string) error {
	if v == "" {
		return nil // the apiserver's default, TLS 1.2
	}
	version, err := cliflag.TLSVersion(v)
	if err != nil {
		return nil // reported by the secure serving options
	}
	if version < tls.VersionTLS12 {
		return fmt.Errorf("--tls-min-version %s: TLS 1.2 is the minimum", v)
	}
	return nil
}
