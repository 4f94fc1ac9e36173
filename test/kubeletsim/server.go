package kubeletsim

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// metricsSource renders one node's /metrics/resource payload.
type metricsSource interface {
	AppendText(dst []byte, now time.Time) []byte
}

// ResourceMetricsPath is where every node serves its resource metrics.
const ResourceMetricsPath = "/metrics/resource"

const contentTypeText = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

// servedNode is what the server needs to know of a node.
type servedNode struct {
	name    string
	ip      netip.Addr
	cert    *tls.Certificate
	metrics metricsSource
}

// server serves every node's endpoint from one http.Server with one listener
// per node address: the TLS certificate and the payload are picked by the
// local address a connection arrived on.
type server struct {
	clock        clock.PassiveClock
	byIP         map[netip.Addr]*servedNode
	extraPath    string
	authRequired bool
	acceptBearer bool
	gzip         bool
	traceparent  bool
	faults       *faultSet // nil without a fault file (faults.go)
	srv          *http.Server
	listeners    []net.Listener
	port         int
	bufs         sync.Pool // *[]byte
	gzips        sync.Pool // *gzip.Writer
}

func newServer(cfg *Config, nodes []*servedNode) (*server, error) {
	s := &server{
		clock:        cfg.Clock,
		byIP:         make(map[netip.Addr]*servedNode, len(nodes)),
		extraPath:    cfg.MetricsPathAnnotation,
		acceptBearer: cfg.AcceptBearerTokens,
		authRequired: cfg.ClientCAFile != "" || cfg.AcceptBearerTokens,
		gzip:         !cfg.DisableGzip,
		traceparent:  cfg.LogTraceparent,
	}
	for _, n := range nodes {
		s.byIP[n.ip] = n
	}
	tlsCfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.getCertificate,
	}
	if cfg.ClientCAFile != "" {
		pemBytes, err := os.ReadFile(cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("client CA %s: no certificate found", cfg.ClientCAFile)
		}
		tlsCfg.ClientCAs = pool
		// Verified when given; the handler answers 401 without one, as the
		// kubelet does, unless a bearer token is accepted instead.
		tlsCfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	s.srv = &http.Server{
		Handler:           s,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		// TLS handshake failures and the like, at -v=2.
		ErrorLog: log.New(serverErrorLog{}, "", 0),
	}
	if cfg.FaultFile != "" {
		s.faults = newFaultSet(s, cfg.FaultFile, cfg.CertDir)
	}
	return s, nil
}

// listen opens one listener per node. A port of -1 binds the first node to
// a free port and uses that port for the others.
func (s *server) listen(nodes []*servedNode, port int) error {
	for _, n := range nodes {
		p := port
		if p == -1 {
			p = 0
		}
		l, err := net.Listen("tcp", netip.AddrPortFrom(n.ip, uint16(p)).String())
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("node %s: %w", n.name, err)
		}
		if port == -1 {
			port = l.Addr().(*net.TCPAddr).Port
		}
		s.listeners = append(s.listeners, l)
	}
	s.port = port
	return nil
}

func (s *server) closeListeners() {
	for _, l := range s.listeners {
		_ = l.Close()
	}
	s.listeners = nil
}

// serve serves on every listener until shutdown.
func (s *server) serve() {
	if s.faults != nil {
		s.faults.start()
	}
	for _, l := range s.listeners {
		go func(l net.Listener) {
			if err := s.srv.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				klog.ErrorS(err, "Serving stopped", "address", l.Addr().String())
			}
		}(l)
	}
}

func (s *server) shutdown(ctx context.Context) error {
	if s.faults != nil {
		s.faults.shutdown() // releases hanging responses
	}
	return s.srv.Shutdown(ctx)
}

func (s *server) nodeFor(local net.Addr) *servedNode {
	ta, ok := local.(*net.TCPAddr)
	if !ok {
		return nil
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return nil
	}
	return s.byIP[ip.Unmap()]
}

func (s *server) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if n := s.nodeFor(hello.Conn.LocalAddr()); n != nil {
		if c := s.faults.certificate(n); c != nil {
			return c, nil
		}
		return n.cert, nil
	}
	return nil, fmt.Errorf("no node serves %s", hello.Conn.LocalAddr())
}

func (s *server) authenticated(r *http.Request) bool {
	if !s.authRequired {
		return true
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return true
	}
	if s.acceptBearer {
		auth := r.Header.Get("Authorization")
		if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") && strings.TrimSpace(auth[7:]) != "" {
			return true
		}
	}
	return false
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	n := s.nodeFor(local)
	if n == nil {
		http.Error(w, "unknown node address", http.StatusMisdirectedRequest)
		return
	}
	if !s.authenticated(r) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	switch r.URL.Path {
	case "/healthz":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	case ResourceMetricsPath:
		s.serveMetrics(w, r, n)
	default:
		if s.extraPath != "" && r.URL.Path == s.extraPath {
			s.serveMetrics(w, r, n)
			return
		}
		http.NotFound(w, r)
	}
}

func (s *server) serveMetrics(w http.ResponseWriter, r *http.Request, n *servedNode) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if s.traceparent {
		if tp := r.Header.Get("traceparent"); tp != "" {
			klog.InfoS("Metrics request with traceparent", "node", klog.KRef("", n.name), "path", r.URL.Path, "traceparent", tp)
		}
	}
	if s.faults != nil && s.faults.serve(w, r, n) {
		return
	}
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, 16<<10)
		bp = &b
	}
	buf := n.metrics.AppendText((*bp)[:0], s.clock.Now())
	defer func() {
		*bp = buf
		s.bufs.Put(bp)
	}()
	h := w.Header()
	h.Set("Content-Type", contentTypeText)
	if s.gzip && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		if r.Method == http.MethodHead {
			return
		}
		gz, _ := s.gzips.Get().(*gzip.Writer)
		if gz == nil {
			gz, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
		} else {
			gz.Reset(w)
		}
		_, _ = gz.Write(buf)
		_ = gz.Close()
		s.gzips.Put(gz)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(buf)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(buf)
}

// serverErrorLog turns net/http's error lines into structured log entries.
type serverErrorLog struct{}

func (serverErrorLog) Write(p []byte) (int, error) {
	klog.V(2).InfoS("HTTP server error", "error", strings.TrimSpace(string(p)))
	return len(p), nil
}

func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			continue
		}
		params = strings.ReplaceAll(params, " ", "")
		return params != "q=0" && params != "q=0.0" && params != "q=0.00" && params != "q=0.000"
	}
	return false
}
