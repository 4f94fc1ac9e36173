/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package kubelet

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

// DefaultCAReloadInterval is how often NewTransport re-reads the CA file.
const DefaultCAReloadInterval = 10 * time.Second

// TransportOptions are what NewTransport adds to the client-go transport.
type TransportOptions struct {
	// VerifyNodeName verifies each kubelet's serving certificate against its
	// Node's name (a DNS name in the certificate) instead of the address
	// dialed. The address is still what is dialed. Every request must name
	// its node (WithNodeName; Guard does it); one that does not fails.
	VerifyNodeName bool
	// CAReloadInterval is how often the CA file of the config is checked for
	// changes; 0 means DefaultCAReloadInterval.
	CAReloadInterval time.Duration
}

type nodeNameKey struct{}

// WithNodeName returns ctx naming the node a kubelet request is for.
func WithNodeName(ctx context.Context, node string) context.Context {
	return context.WithValue(ctx, nodeNameKey{}, node)
}

// NodeNameFrom returns the node named by WithNodeName.
func NodeNameFrom(ctx context.Context) (string, bool) {
	name, ok := ctx.Value(nodeNameKey{}).(string)
	return name, ok && name != ""
}

// NewTransport builds the transport to kubelets from c the way
// rest.TransportFor does (credentials, client certificate rotation, CA), with
// these differences:
//
//   - With o.VerifyNodeName, a request for node N dialed at ADDR:PORT goes
//     out as https://N:PORT with the connection made to ADDR:PORT, so TLS
//     verifies the certificate against N and connections are pooled per
//     node name. This is the secure answer to kubelet certificates without
//     IP SANs (metrics-server #1588) instead of --kubelet-insecure-tls.
//   - Kubelets are spoken to in HTTP/1.1 unless c names its own NextProtos:
//     one request per node per resolution gains nothing from HTTP/2
//     multiplexing, and an HTTP/1.1 connection costs less while idle (no
//     frame and HPACK state). The connections are the pool's (connPool),
//     not net/http's: no goroutine per idle connection and ~10 KB of heap,
//     where net/http's HTTP/2 takes ~28 KB and a goroutine, its HTTP/1.1
//     15-21 KB (small or default buffers) and two goroutines
//     (BenchmarkIdleConnections). A request that
//     times out closes its HTTP/1.1 connection, so a hung kubelet is never
//     reused without the HTTP/2 ping health check.
//   - When c names a CA file (--kubelet-certificate-authority, the
//     kubeconfig's certificate-authority, or the in-cluster CA), the file is
//     re-read every o.CAReloadInterval; when its content changes, new
//     connections verify against the new bundle at once and idle
//     connections are closed. client-go alone checks a CA file only every
//     five minutes, and not at all with ClientsAllowCARotation off.
func NewTransport(c *rest.Config, o TransportOptions) (http.RoundTripper, error) {
	return newTransport(c, o, time.Now)
}

func newTransport(c *rest.Config, o TransportOptions, now func() time.Time) (http.RoundTripper, error) {
	c = rest.CopyConfig(c)
	if len(c.TLSClientConfig.NextProtos) == 0 {
		c.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	if o.VerifyNodeName {
		if c.TLSClientConfig.Insecure {
			return nil, errors.New("verifying kubelet certificates against node names needs TLS verification, not insecure")
		}
		c.Dial = dialRealAddress(dialerOf(c))
		c.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &nodeNameRoundTripper{next: rt} })
	}
	if c.TLSClientConfig.CAFile == "" || len(c.TLSClientConfig.CAData) > 0 || c.TLSClientConfig.Insecure {
		return transportFor(c)
	}
	interval := o.CAReloadInterval
	if interval <= 0 {
		interval = DefaultCAReloadInterval
	}
	return newCAReloader(c, interval, now)
}

// Buffer sizes of the HTTP/1.1 connections net/http's transport keeps for
// the requests the pool leaves to it (proxied ones), instead of its 4 KB each:
// a request is a GET line and a few headers (~1.3 KB with a service account
// token), a response head a few hundred bytes, and the body is read in larger
// chunks, which bypass the buffer.
const (
	connReadBufferSize  = 1 << 10
	connWriteBufferSize = 2 << 10
)

// transportFor is rest.TransportFor(c) over the connection pool: it builds
// the *http.Transport the way client-go does (TLS from rest.TLSConfigFor, a
// 30 s dialer with keep-alive, the environment's proxy with NO_PROXY CIDRs,
// 10 s TLS handshake timeout, 25 idle connections per host, 90 s idle
// timeout), puts a connPool configured by it on top (it serves what the pool
// does not) and lets rest.TransportFor wrap that with c's credentials, user
// agent and wrappers. Configs whose TLS client-go manages over time (exec and auth
// provider plugins, a client certificate and key read from files, which
// client-go re-reads and rotates), a custom transport, and HTTP/2 are left to
// rest.TransportFor.
func transportFor(c *rest.Config) (http.RoundTripper, error) {
	t := &c.TLSClientConfig
	certFiles := t.CertFile != "" && len(t.CertData) == 0 && t.KeyFile != "" && len(t.KeyData) == 0
	if c.Transport != nil || c.ExecProvider != nil || c.AuthProvider != nil || certFiles ||
		slices.Contains(t.NextProtos, "h2") {
		return rest.TransportFor(c)
	}
	tlsConfig, err := rest.TLSConfigFor(c)
	if err != nil {
		return nil, err
	}
	dial := dialerOf(c)
	base := utilnet.SetOldTransportDefaults(&http.Transport{
		Proxy:               c.Proxy,
		TLSClientConfig:     tlsConfig,
		DialContext:         dial,
		MaxIdleConnsPerHost: 25,
		DisableCompression:  c.DisableCompression,
		ReadBufferSize:      connReadBufferSize,
		WriteBufferSize:     connWriteBufferSize,
	})
	if base.TLSClientConfig == nil {
		base.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	cc := rest.CopyConfig(c)
	cc.TLSClientConfig = rest.TLSClientConfig{}
	cc.Dial, cc.Proxy = nil, nil
	cc.Transport = newConnPool(base)
	return rest.TransportFor(cc)
}

// dialerOf returns c's dialer, or client-go's default one (30 s connect
// timeout, 30 s keep-alive).
func dialerOf(c *rest.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if c.Dial != nil {
		return c.Dial
	}
	return (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
}

// dialTarget maps the address a request names (node name and port) to the
// address to dial.
type dialTarget struct{ named, real string }

type dialTargetKey struct{}

// dialRealAddress dials the real address of a request rewritten by
// nodeNameRoundTripper; every other address (a proxy's) is dialed as is.
func dialRealAddress(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if t, ok := ctx.Value(dialTargetKey{}).(dialTarget); ok && addr == t.named {
			addr = t.real
		}
		return dial(ctx, network, addr)
	}
}

var errNoNodeName = errors.New("kubelet certificates are verified against node names, but the request names no node")

// nodeNameRoundTripper puts the node's name in the request URL so the
// transport verifies the certificate against it (and pools connections per
// node name), keeps the dialed address in the context for dialRealAddress,
// and sends the original host:port as the Host header.
type nodeNameRoundTripper struct{ next http.RoundTripper }

func (rt *nodeNameRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	name, ok := NodeNameFrom(req.Context())
	if !ok {
		return nil, errNoNodeName
	}
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return nil, fmt.Errorf("node name %q is not a DNS name: %v", name, msgs)
	}
	addr := req.URL.Host
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("kubelet address %q: %w", addr, err)
	}
	named := net.JoinHostPort(name, port)
	r := req.WithContext(context.WithValue(req.Context(), dialTargetKey{}, dialTarget{named: named, real: addr}))
	u := *req.URL
	u.Host = named
	r.URL = &u
	if r.Host == "" {
		r.Host = addr
	}
	return rt.next.RoundTrip(r)
}

func (rt *nodeNameRoundTripper) WrappedRoundTripper() http.RoundTripper { return rt.next }

// caReloader is a client-go transport rebuilt when its CA file changes.
type caReloader struct {
	file     string
	build    func(ca []byte) (http.RoundTripper, error)
	interval time.Duration
	now      func() time.Time

	current   atomic.Pointer[caTransport]
	nextCheck atomic.Int64 // Unix nanoseconds
	mu        sync.Mutex   // one check at a time
}

type caTransport struct {
	rt http.RoundTripper
	ca []byte
}

var _ utilnet.RoundTripperWrapper = &caReloader{}

func newCAReloader(c *rest.Config, interval time.Duration, now func() time.Time) (*caReloader, error) {
	base := rest.CopyConfig(c)
	base.TLSClientConfig.CAFile = ""
	h := &caReloader{
		file:     c.TLSClientConfig.CAFile,
		interval: interval,
		now:      now,
		build: func(ca []byte) (http.RoundTripper, error) {
			cc := rest.CopyConfig(base)
			cc.TLSClientConfig.CAData = ca
			return transportFor(cc)
		},
	}
	ca, _, err := readCABundle(h.file)
	if err != nil {
		return nil, err
	}
	rt, err := h.build(ca)
	if err != nil {
		return nil, err
	}
	h.current.Store(&caTransport{rt: rt, ca: ca})
	h.nextCheck.Store(now().Add(interval).UnixNano())
	return h, nil
}

func (h *caReloader) RoundTrip(req *http.Request) (*http.Response, error) {
	if h.now().UnixNano() >= h.nextCheck.Load() {
		h.check()
	}
	return h.current.Load().rt.RoundTrip(req)
}

func (h *caReloader) WrappedRoundTripper() http.RoundTripper { return h.current.Load().rt }

// check re-reads the CA file and swaps the transport when it changed. A file
// that cannot be read or holds no certificate keeps the previous bundle.
func (h *caReloader) check() {
	if !h.mu.TryLock() {
		return // another request is checking; use the current transport
	}
	defer h.mu.Unlock()
	now := h.now()
	if now.UnixNano() < h.nextCheck.Load() {
		return
	}
	h.nextCheck.Store(now.Add(h.interval).UnixNano())
	ca, n, err := readCABundle(h.file)
	if err != nil {
		klog.ErrorS(err, "Reading the kubelet CA bundle failed; the previous one stays in use", "file", h.file)
		return
	}
	cur := h.current.Load()
	if bytes.Equal(ca, cur.ca) {
		return
	}
	rt, err := h.build(ca)
	if err != nil {
		klog.ErrorS(err, "Building a kubelet transport for the new CA bundle failed; the previous one stays in use", "file", h.file)
		return
	}
	h.current.Store(&caTransport{rt: rt, ca: ca})
	// Connections verified against the old bundle are not reused once idle.
	utilnet.CloseIdleConnectionsFor(cur.rt)
	klog.InfoS("Kubelet CA bundle changed; new connections verify against it", "file", h.file, "certificates", n)
}

// readCABundle reads a PEM bundle and checks it holds at least one
// certificate (a file being rewritten may be empty for a moment).
func readCABundle(file string) ([]byte, int, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, 0, err
	}
	certs, err := parsePEMCertificates(data)
	if err != nil {
		return nil, 0, fmt.Errorf("CA bundle %s: %w", file, err)
	}
	return data, len(certs), nil
}

func parsePEMCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}
