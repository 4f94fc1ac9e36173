package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/cert"
	"k8s.io/klog/v2"
)

// The configmap kube-apiserver publishes for aggregated servers, and its
// keys that hold CAs: of its clients' certificates, and of the front proxy's
// (the aggregator's own client certificate, under which kubectl top arrives).
const (
	authenticationConfigMap = "extension-apiserver-authentication"
	ClientCAKey             = "client-ca-file"
	RequestHeaderCAKey      = "requestheader-client-ca-file"
)

// clientCACheck is the readiness check "client-ca". When client CAs come
// from the cluster, k8s.io/apiserver loads them through configmap informers
// it starts only with the secure port: until those sync, the client
// certificates they sign (the front proxy's too) are refused with 401, and
// the data check can pass before that. The check passes once every
// certificate the configmap publishes under the given keys is trusted by the
// serving CA bundle, and then stays passed: the gap is only at startup,
// rotations later are the CA controllers' job.
type clientCACheck struct {
	served dynamiccertificates.CAContentProvider
	kube   kubernetes.Interface
	keys   []string

	published atomic.Pointer[map[string][]*x509.Certificate] // by key; nil until read
	readErr   atomic.Pointer[error]                          // the last failed read
	loaded    atomic.Bool
}

func newClientCACheck(served dynamiccertificates.CAContentProvider, kube kubernetes.Interface, keys []string) *clientCACheck {
	return &clientCACheck{served: served, kube: kube, keys: keys}
}

func (c *clientCACheck) Name() string { return "client-ca" }

// Check never does I/O: it compares what read found with what is served.
func (c *clientCACheck) Check(_ *http.Request) error {
	if c.loaded.Load() {
		return nil
	}
	published := c.published.Load()
	if published == nil {
		if err := c.readErr.Load(); err != nil {
			return fmt.Errorf("reading the published client CAs: %w", *err)
		}
		return fmt.Errorf("published client CAs not read yet")
	}
	var served []*x509.Certificate
	if pem := c.served.CurrentCABundleContent(); len(pem) > 0 {
		var err error
		if served, err = cert.ParseCertsPEM(pem); err != nil {
			return fmt.Errorf("parsing the served CA bundle: %w", err)
		}
	}
	var missing []string
	total := 0
	for _, key := range c.keys {
		n := 0
		for _, want := range (*published)[key] {
			if !slices.ContainsFunc(served, want.Equal) {
				n++
			}
		}
		total += len((*published)[key])
		if n > 0 {
			missing = append(missing, fmt.Sprintf("%s: %d of %d", key, n, len((*published)[key])))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("certificates in configmap %s/%s not trusted yet (%s)",
			metav1.NamespaceSystem, authenticationConfigMap, strings.Join(missing, ", "))
	}
	if c.loaded.CompareAndSwap(false, true) {
		klog.InfoS("Client CAs from the cluster loaded", "keys", c.keys, "certificates", total)
	}
	return nil
}

// read gets the published CAs, retrying every interval until it succeeds or
// ctx ends.
func (c *clientCACheck) read(ctx context.Context, interval time.Duration) {
	logged := false
	_ = wait.PollUntilContextCancel(ctx, interval, true, func(ctx context.Context) (bool, error) {
		certs, err := publishedCAs(ctx, c.kube, c.keys)
		if err != nil {
			c.readErr.Store(&err)
			if !logged {
				klog.ErrorS(err, "Reading the published client CAs, retrying", "interval", interval)
				logged = true
			}
			return false, nil
		}
		c.published.Store(&certs)
		return true, nil
	})
}

// publishedCAs are the CAs kube-apiserver publishes under keys; none for a
// key that is absent (kube-apiserver without --client-ca-file, say), or when
// the configmap is.
func publishedCAs(ctx context.Context, kube kubernetes.Interface, keys []string) (map[string][]*x509.Certificate, error) {
	cm, err := kube.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, authenticationConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return map[string][]*x509.Certificate{}, nil
	}
	if err != nil {
		return nil, err
	}
	certs := make(map[string][]*x509.Certificate, len(keys))
	for _, key := range keys {
		pem := cm.Data[key]
		if strings.TrimSpace(pem) == "" {
			continue
		}
		if certs[key], err = cert.ParseCertsPEM([]byte(pem)); err != nil {
			return nil, fmt.Errorf("configmap %s/%s key %s: %w", metav1.NamespaceSystem, authenticationConfigMap, key, err)
		}
	}
	return certs, nil
}
