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
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

const (
	// DefaultPort is the kubelet's secure port.
	DefaultPort = 10250
	// DefaultTimeout bounds one Scrape.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxBodyBytes caps a decompressed response body.
	DefaultMaxBodyBytes = 10 << 20
	// ResourceMetricsPath is the kubelet endpoint scraped by default.
	ResourceMetricsPath = "/metrics/resource"
	// PathAnnotation on a Node overrides ResourceMetricsPath for that node.
	PathAnnotation = "metrics.k8s.io/resource-metrics-path"

	// bodyExcerptBytes is how much of a non-200 body an error keeps.
	bodyExcerptBytes = 200
	// drainBytes is how much of an unwanted body is read so the connection can be reused.
	drainBytes = 4 << 10
)

// DefaultAddressTypes is the default order in which node addresses are tried.
var DefaultAddressTypes = []corev1.NodeAddressType{
	corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName,
}

// Reasons a Scrape fails, as returned by Reason.
const (
	ReasonTimeout      = "timeout"        // Timeout or the caller's deadline passed
	ReasonCanceled     = "canceled"       // the caller's context was canceled
	ReasonConnection   = "connection"     // dial, reset, EOF before a response
	ReasonTLS          = "tls"            // handshake or certificate verification
	ReasonHTTPStatus   = "http_status"    // a status other than 200; see StatusCode
	ReasonBodyTooLarge = "body_too_large" // body over MaxBodyBytes
	ReasonReadBody     = "read_body"      // truncated or corrupt (gzip) body
	ReasonDecode       = "decode"         // the payload is not valid; wraps *DecodeError
	ReasonNoAddress    = "no_address"     // the node has no address of the wanted types
	ReasonInvalidPath  = "invalid_path"   // the path annotation is not an absolute path
	ReasonInvalid      = "invalid"        // a nil node, decoder or batch
	ReasonUnknown      = "unknown"
)

// ScrapeError is the error Scrape returns.
type ScrapeError struct {
	// Reason is one of the Reason* constants.
	Reason string
	// Address is the host:port last tried, "" when none was.
	Address string
	// StatusCode is the HTTP status for ReasonHTTPStatus, else 0.
	StatusCode int
	// Body is the start of the response body for ReasonHTTPStatus, with
	// credentials masked.
	Body string
	// Err is the underlying error, if any.
	Err error
}

func (e *ScrapeError) Error() string {
	var sb strings.Builder
	sb.WriteString("scraping kubelet")
	if e.Address != "" {
		sb.WriteString(" at ")
		sb.WriteString(e.Address)
	}
	sb.WriteString(": ")
	sb.WriteString(e.Reason)
	if e.StatusCode != 0 {
		fmt.Fprintf(&sb, ": HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
		if e.Body != "" {
			fmt.Fprintf(&sb, ": %q", e.Body)
		}
	}
	if e.Err != nil {
		sb.WriteString(": ")
		sb.WriteString(e.Err.Error())
	}
	return sb.String()
}

func (e *ScrapeError) Unwrap() error { return e.Err }

// Reason classifies a Scrape error for metrics and logs: one of the Reason*
// constants, "" for a nil error.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var se *ScrapeError
	if errors.As(err, &se) {
		return se.Reason
	}
	var de *DecodeError
	if errors.As(err, &de) {
		return ReasonDecode
	}
	return classify(err)
}

// StatusCode returns the HTTP status of a ReasonHTTPStatus error, else 0.
func StatusCode(err error) int {
	var se *ScrapeError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}

// ClientOptions configure a Client.
type ClientOptions struct {
	// Transport carries credentials and TLS (the caller builds it with
	// k8s.io/client-go/rest.TransportFor from the kubeconfig/in-cluster config:
	// bearer token or client cert, CA or insecure). Shared by all nodes so
	// connections are kept alive. Required.
	Transport http.RoundTripper
	// DefaultPort is the kubelet port (--kubelet-port); 0 means 10250.
	DefaultPort int
	// UseNodeStatusPort uses node.Status.DaemonEndpoints.KubeletEndpoint.Port when > 0.
	UseNodeStatusPort bool
	// AddressTypes is the preference order of node addresses; empty means
	// InternalIP, ExternalIP, Hostname.
	AddressTypes []corev1.NodeAddressType
	// Timeout bounds one Scrape (every address tried, and the body); 0 means 10s.
	Timeout time.Duration
	// MaxBodyBytes caps the (decompressed) body; 0 means 10 MiB.
	MaxBodyBytes int64
	// DisableCompression asks kubelets for an uncompressed body (a
	// kubeconfig's disable-compression); a gzip body is still decompressed.
	DisableCompression bool
}

// Client scrapes kubelets. It is safe for concurrent use by any number of nodes;
// each scrape brings the node's Decoder and a NodeBatch.
type Client struct {
	http         *http.Client
	port         int
	useNodePort  bool
	addressTypes []corev1.NodeAddressType
	timeout      time.Duration
	maxBody      int64
	noGzip       bool
}

// NewClient checks o, fills in defaults and returns a Client.
func NewClient(o ClientOptions) (*Client, error) {
	if o.Transport == nil {
		return nil, errors.New("kubelet client: Transport is required")
	}
	if o.DefaultPort == 0 {
		o.DefaultPort = DefaultPort
	}
	if o.DefaultPort < 1 || o.DefaultPort > 65535 {
		return nil, fmt.Errorf("kubelet client: port %d out of range", o.DefaultPort)
	}
	if len(o.AddressTypes) == 0 {
		o.AddressTypes = DefaultAddressTypes
	}
	for _, t := range o.AddressTypes {
		if t == "" {
			return nil, errors.New("kubelet client: empty address type")
		}
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("kubelet client: negative timeout %v", o.Timeout)
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("kubelet client: negative body cap %d", o.MaxBodyBytes)
	}
	return &Client{
		http: &http.Client{
			Transport: o.Transport,
			// A kubelet does not redirect; following one would send our
			// credentials to wherever it points.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		port:         o.DefaultPort,
		useNodePort:  o.UseNodeStatusPort,
		addressTypes: append([]corev1.NodeAddressType(nil), o.AddressTypes...),
		timeout:      o.Timeout,
		maxBody:      o.MaxBodyBytes,
		noGzip:       o.DisableCompression,
	}, nil
}

// ScrapeInfo describes a Scrape.
type ScrapeInfo struct {
	// Address is the host:port that answered (or the last one tried).
	Address string
	// Bytes is the size of the (decompressed) body read.
	Bytes int64
	// Series is how many samples of the families the decoder reads were stored.
	Series int
	// Rejected is how many samples were dropped (see Decoder.RejectedSamples).
	Rejected int
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Scrape GETs https://<addr>:<port><path> for the node and decodes it into b
// (b.Reset(node.Name) first). Addresses are tried in AddressTypes order; the next
// one is tried only when dialing the previous one failed. Errors are *ScrapeError.
func (c *Client) Scrape(ctx context.Context, node *corev1.Node, d *Decoder, b *storage.NodeBatch) (ScrapeInfo, error) {
	var info ScrapeInfo
	if node == nil || d == nil || b == nil {
		return info, &ScrapeError{Reason: ReasonInvalid, Err: errors.New("nil node, decoder or batch")}
	}
	b.Reset(node.Name)

	target, err := metricsPath(node)
	if err != nil {
		return info, &ScrapeError{Reason: ReasonInvalidPath, Err: err}
	}
	addrs := c.addresses(node)
	if len(addrs) == 0 {
		return info, &ScrapeError{Reason: ReasonNoAddress, Err: fmt.Errorf("node has no address of types %v", c.addressTypes)}
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	var (
		resp *http.Response
		// dial failures of the addresses tried before the last, so the final
		// error names every address that was tried, not only the last one
		earlier []error
	)
	for i, addr := range addrs {
		info.Address = addr
		u := url.URL{Scheme: "https", Host: addr, Path: target.Path, RawPath: target.RawPath, RawQuery: target.RawQuery}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return info, &ScrapeError{Reason: ReasonInvalidPath, Address: addr, Err: err}
		}
		// Exactly */*: some kubelet simulators answer 406 to anything else.
		req.Header.Set("Accept", "*/*")
		// Asked for here rather than by the transport, so the transport hands
		// the body over compressed and readBody decompresses it with pooled
		// readers (a transport allocates a bufio.Reader per response).
		if !c.noGzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err = c.http.Do(req)
		if err == nil {
			break
		}
		err = unwrapURLError(err)
		if i+1 < len(addrs) && ctx.Err() == nil && isDialError(err) {
			klog.V(4).InfoS("Kubelet address unreachable, trying the next one",
				"node", klog.KObj(node), "address", addr, "err", err)
			earlier = append(earlier, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		reason := classifyCtx(ctx, err) // the last address decides the reason
		if len(earlier) > 0 {
			err = fmt.Errorf("%w (earlier addresses: %w)", err, errors.Join(earlier...))
		}
		return info, &ScrapeError{Reason: reason, Address: addr, Err: err}
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		return info, statusError(resp, info.Address)
	}

	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bodyPool.Put(buf)
	n, err := c.readBody(resp, buf)
	info.Bytes = n
	if err == nil && ctx.Err() != nil {
		// The body ended cleanly but only after our deadline or cancel: when
		// closing a TLS connection the client sends close_notify, and a server
		// that gives up on the request can still end its chunked body properly.
		err = fmt.Errorf("reading body: %w", context.Cause(ctx))
	}
	if err != nil {
		if errors.Is(err, errBodyTooLarge) {
			return info, &ScrapeError{Reason: ReasonBodyTooLarge, Address: info.Address, Err: err}
		}
		reason := classifyCtx(ctx, err)
		var oe *net.OpError
		if reason == ReasonUnknown || reason == ReasonConnection && !errors.As(err, &oe) {
			reason = ReasonReadBody // truncated, or corrupt gzip
		}
		return info, &ScrapeError{Reason: reason, Address: info.Address, Err: err}
	}

	if err := d.Decode(buf.Bytes(), time.Now(), b); err != nil {
		return info, &ScrapeError{Reason: ReasonDecode, Address: info.Address, Err: err}
	}
	info.Series = d.AcceptedSamples()
	info.Rejected = d.RejectedSamples()
	return info, nil
}

var errBodyTooLarge = errors.New("response body too large")

// gunzipper decompresses one response body at a time. It is pooled with its
// buffers: the compressed body, the reader over it and the flate window and
// tables. The inflater is github.com/klauspost/compress's, API-compatible
// with compress/gzip and 1.3-1.4x faster on a kubelet payload
// (BenchmarkGunzip); inflating was 40 % of the CPU of a scrape with the
// standard library's. The compressed body (a tenth of the decompressed one)
// is read whole first: the inflater reads a *bytes.Reader byte by byte
// without a call per byte, 20-25 % faster than from a bufio.Reader.
type gunzipper struct {
	limited    io.LimitedReader
	compressed bytes.Buffer
	src        bytes.Reader
	zr         gzip.Reader
}

var gunzipPool = sync.Pool{New: func() any { return new(gunzipper) }}

// maxPooledCompressed is the largest compressed-body buffer kept for reuse: a
// kubelet's gzipped payload is a few KiB per 30 pods.
const maxPooledCompressed = 256 << 10

// compressedCap bounds the gzip bytes read for a body of at most maxBody
// decompressed bytes: deflate's stored blocks add 5 bytes per 64 KiB and gzip
// a header and a trailer, so an eighth more plus 4 KiB covers any encoding of
// a body within the cap. It stays below math.MaxInt64 (callers add one).
func compressedCap(maxBody int64) int64 {
	if c := maxBody + maxBody/8 + 4<<10; c > maxBody && c < math.MaxInt64 {
		return c
	}
	return math.MaxInt64 - 1
}

// reset reads the compressed body from r, at most limit bytes, and starts
// decompressing it: it reads the gzip header.
func (g *gunzipper) reset(r io.Reader, limit int64) (io.Reader, error) {
	g.compressed.Reset()
	g.limited = io.LimitedReader{R: r, N: limit + 1}
	n, err := g.compressed.ReadFrom(&g.limited)
	g.limited.R = nil
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: over %d bytes compressed", errBodyTooLarge, limit)
	}
	g.src.Reset(g.compressed.Bytes())
	if err := g.zr.Reset(&g.src); err != nil {
		return nil, fmt.Errorf("gzip body: %w", err)
	}
	return &g.zr, nil
}

// release puts g back in the pool, without a compressed buffer grown past
// maxPooledCompressed.
func (g *gunzipper) release() {
	g.src.Reset(nil)
	if g.compressed.Cap() > maxPooledCompressed {
		g.compressed = bytes.Buffer{}
	}
	gunzipPool.Put(g)
}

// readBody reads the whole body into buf, decompressing a gzip body; it never
// reads more than maxBody+1 (decompressed) bytes, nor more than
// compressedCap(maxBody)+1 compressed ones.
func (c *Client) readBody(resp *http.Response, buf *bytes.Buffer) (int64, error) {
	var body io.Reader = resp.Body
	// We asked for gzip ourselves, so the transport left the body as it came
	// (Uncompressed is false), whether the kubelet gzipped it or not. A body
	// the transport did decompress has lost its Content-Encoding.
	if !resp.Uncompressed && strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		// Content-Length is the compressed size: the decompressed bytes are
		// held to the cap as they are inflated.
		g := gunzipPool.Get().(*gunzipper)
		defer g.release()
		zr, err := g.reset(resp.Body, compressedCap(c.maxBody))
		if err != nil {
			return 0, err
		}
		body = zr
	} else {
		if resp.ContentLength > c.maxBody {
			return 0, fmt.Errorf("%w: Content-Length %d over the cap of %d bytes", errBodyTooLarge, resp.ContentLength, c.maxBody)
		}
		if resp.ContentLength > 0 {
			buf.Grow(int(resp.ContentLength))
		}
	}
	n, err := buf.ReadFrom(io.LimitReader(body, c.maxBody+1))
	if err != nil {
		return n, fmt.Errorf("reading body: %w", err)
	}
	if n > c.maxBody {
		return n, fmt.Errorf("%w: over the cap of %d bytes", errBodyTooLarge, c.maxBody)
	}
	return n, nil
}

// statusError builds the error for a non-200 answer, keeping the start of the
// body with any credential the request carried masked.
func statusError(resp *http.Response, addr string) error {
	authz := ""
	if resp.Request != nil {
		authz = resp.Request.Header.Get("Authorization")
	}
	// Read enough that a credential starting within the excerpt is seen whole.
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, int64(bodyExcerptBytes+len(authz))))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainBytes))
	return &ScrapeError{
		Reason:     ReasonHTTPStatus,
		Address:    addr,
		StatusCode: resp.StatusCode,
		Body:       bodyExcerpt(raw, authz),
	}
}

const redacted = "[redacted]"

func bodyExcerpt(raw []byte, authz string) string {
	s := strings.ToValidUTF8(string(raw), "\uFFFD")
	if authz != "" {
		s = strings.ReplaceAll(s, authz, redacted)
		if _, cred, ok := strings.Cut(authz, " "); ok && len(cred) >= 4 {
			s = strings.ReplaceAll(s, cred, redacted)
		}
	}
	s = maskBearer(s)
	if len(s) > bodyExcerptBytes {
		n := bodyExcerptBytes
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	return strings.TrimSpace(s)
}

// maskBearer replaces the token after every "Bearer " (ASCII case-insensitive) in s.
func maskBearer(s string) string {
	const word = "bearer "
	var sb strings.Builder
	last := 0
	for i := 0; i+len(word) <= len(s); i++ {
		if !strings.EqualFold(s[i:i+len(word)], word) {
			continue
		}
		start := i + len(word)
		end := start
		for end < len(s) && !strings.ContainsRune(" \t\r\n\"',;", rune(s[end])) {
			end++
		}
		if end == start {
			continue
		}
		sb.WriteString(s[last:start])
		sb.WriteString(redacted)
		last, i = end, end-1
	}
	if last == 0 {
		return s
	}
	sb.WriteString(s[last:])
	return sb.String()
}

// metricsPath returns the path (and query) to scrape on the node.
func metricsPath(node *corev1.Node) (*url.URL, error) {
	p, ok := node.Annotations[PathAnnotation]
	if !ok || p == "" {
		return &url.URL{Path: ResourceMetricsPath}, nil
	}
	u, err := url.Parse(p)
	if err != nil || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") ||
		u.Scheme != "" || u.Host != "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("annotation %s=%q: not an absolute path", PathAnnotation, p)
	}
	return u, nil
}

// addresses lists the host:port candidates of the node in preference order:
// every address of the first preferred type, then of the next, without repeats.
func (c *Client) addresses(node *corev1.Node) []string {
	port := c.port
	if c.useNodePort {
		if p := node.Status.DaemonEndpoints.KubeletEndpoint.Port; p > 0 && p <= 65535 {
			port = int(p)
		}
	}
	ps := strconv.Itoa(port)
	var out []string
	for _, t := range c.addressTypes {
		for _, a := range node.Status.Addresses {
			if a.Type != t || a.Address == "" {
				continue
			}
			hp := net.JoinHostPort(a.Address, ps)
			dup := false
			for _, o := range out {
				if o == hp {
					dup = true
					break
				}
			}
			if !dup {
				out = append(out, hp)
			}
		}
	}
	return out
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// isDialError reports whether err happened while opening the connection
// (refused, unreachable, no such host, dial timeout), before TLS or HTTP.
func isDialError(err error) bool {
	if isTLSError(err) {
		return false
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

func isTLSError(err error) bool {
	var (
		rh tls.RecordHeaderError
		al tls.AlertError
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		hn x509.HostnameError
		ci x509.CertificateInvalidError
	)
	if errors.As(err, &rh) || errors.As(err, &al) || errors.As(err, &cv) ||
		errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) {
		return true
	}
	// Other handshake failures are plain errors from crypto/tls, and net/http
	// reports a plain-HTTP answer to the handshake in its own words.
	msg := err.Error()
	return strings.Contains(msg, "tls: ") || strings.Contains(msg, "server gave HTTP response to HTTPS client")
}

// classifyCtx classifies err, trusting ctx for cancellation and deadlines.
func classifyCtx(ctx context.Context, err error) string {
	switch ctx.Err() {
	case context.Canceled:
		return ReasonCanceled
	case context.DeadlineExceeded:
		return ReasonTimeout
	}
	return classify(err)
}

func classify(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return ReasonCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	case errors.Is(err, errBodyTooLarge):
		return ReasonBodyTooLarge
	case isTLSError(err):
		return ReasonTLS
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ReasonTimeout
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return ReasonConnection
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ReasonConnection
	}
	return ReasonUnknown
}
