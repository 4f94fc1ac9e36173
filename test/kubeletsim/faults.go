package kubeletsim

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"
)

// Faults a node can be given in the fault file (Config.FaultFile). Each
// node has at most one; a line `NODE FAULT` gives it one, and a node whose
// line goes away serves normally again (except after the events
// FaultCounterReset and FaultReboot, which cannot be undone).
const (
	// FaultHangHeaders reads the request and never answers.
	FaultHangHeaders = "hang-headers"
	// FaultHangBody sends the headers and half the payload, then hangs.
	FaultHangBody = "hang-body"
	// FaultSlowDrip sends the payload one byte every 100 ms.
	FaultSlowDrip = "slow-drip"
	// FaultRefuse closes the node's listener (connection refused) and its
	// open connections.
	FaultRefuse = "refuse"
	// FaultHTTP500, ...: answer with that status. 401 reflects the request's
	// Authorization header in its body, as a hostile endpoint might.
	FaultHTTP500 = "http-500"
	FaultHTTP401 = "http-401"
	FaultHTTP403 = "http-403"
	FaultHTTP404 = "http-404"
	FaultHTTP406 = "http-406"
	// FaultMalformed inserts a line with an unterminated label set.
	FaultMalformed = "malformed"
	// FaultTruncatedGzip sends half of the gzipped payload.
	FaultTruncatedGzip = "truncated-gzip"
	// FaultHugeBody streams 100 MB (valid comment lines), uncompressed.
	FaultHugeBody = "huge-body"
	// FaultGzipBomb sends about 100 KB of gzip that inflates to 100 MB.
	FaultGzipBomb = "gzip-bomb"
	// FaultDuplicateSeries repeats the node CPU sample.
	FaultDuplicateSeries = "duplicate-series"
	// FaultNaN makes the node CPU counter NaN.
	FaultNaN = "nan"
	// FaultInf makes every container's working set +Inf.
	FaultInf = "inf"
	// FaultNegative makes every container's CPU counter negative.
	FaultNegative = "negative"
	// FaultFutureTimestamps and FaultPastTimestamps move every sample
	// timestamp a year ahead or back (a kubelet whose clock is wrong).
	FaultFutureTimestamps = "future-timestamps"
	FaultPastTimestamps   = "past-timestamps"
	// TLS: a certificate from a CA nobody trusts, one that expired, one for
	// another name and address, one naming the node but not its address
	// (kubelets without IP SANs, metrics-server #1588), and one from the
	// simulator's second CA (<cert-dir>/second-ca/ca.crt), for CA reloads.
	FaultTLSUnknownCA = "tls-unknown-ca"
	FaultTLSExpired   = "tls-expired"
	FaultTLSWrongName = "tls-wrong-name"
	FaultTLSNameOnly  = "tls-name-only"
	FaultTLSSecondCA  = "tls-second-ca"
	// FaultCounterReset is an event: every CPU counter of the node starts
	// again from 0 (start times unchanged). FaultReboot is an event: the node
	// reboots, so its counter and every container's start again from 0 and
	// the containers' start time becomes the reboot time. An event happens
	// when its line appears; `reboot=2` after `reboot` makes another.
	FaultCounterReset = "counter-reset"
	FaultReboot       = "reboot"
)

// FaultNames lists every fault the fault file accepts.
var FaultNames = []string{
	FaultHangHeaders, FaultHangBody, FaultSlowDrip, FaultRefuse,
	FaultHTTP500, FaultHTTP401, FaultHTTP403, FaultHTTP404, FaultHTTP406,
	FaultMalformed, FaultTruncatedGzip, FaultHugeBody, FaultGzipBomb, FaultDuplicateSeries,
	FaultNaN, FaultInf, FaultNegative, FaultFutureTimestamps, FaultPastTimestamps,
	FaultTLSUnknownCA, FaultTLSExpired, FaultTLSWrongName, FaultTLSNameOnly, FaultTLSSecondCA,
	FaultCounterReset, FaultReboot,
}

const (
	faultPollInterval = 200 * time.Millisecond
	// maxHang bounds how long a hanging or dripping response lasts when the
	// client does not go away.
	maxHang     = 2 * time.Minute
	dripEvery   = 100 * time.Millisecond
	timestampYr = 365 * 24 * time.Hour
	// secondCADir is where the second CA lives under the cert dir.
	secondCADir = "second-ca"
)

// fault is one line of the fault file: a fault name and an optional
// argument after "=".
type fault struct{ name, arg string }

func (f fault) String() string {
	if f.arg == "" {
		return f.name
	}
	return f.name + "=" + f.arg
}

func (f fault) isEvent() bool { return f.name == FaultCounterReset || f.name == FaultReboot }

// parseFaults reads a fault file: one `NODE FAULT[=ARG]` per line, blank
// lines and lines starting with # ignored. A node listed twice or an unknown
// fault is an error.
func parseFaults(data []byte) (map[string]fault, error) {
	known := make(map[string]bool, len(FaultNames))
	for _, n := range FaultNames {
		known[n] = true
	}
	out := map[string]fault{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("line %d: want `NODE FAULT`, got %q", line, text)
		}
		name, arg, _ := strings.Cut(fields[1], "=")
		if !known[name] {
			return nil, fmt.Errorf("line %d: unknown fault %q (known: %s)", line, name, strings.Join(FaultNames, ", "))
		}
		if _, dup := out[fields[0]]; dup {
			return nil, fmt.Errorf("line %d: node %s listed twice", line, fields[0])
		}
		out[fields[0]] = fault{name: name, arg: arg}
	}
	return out, sc.Err()
}

// faultSet applies the fault file to a server.
type faultSet struct {
	file   string
	srv    *server
	byName map[string]*servedNode
	stop   chan struct{}
	done   chan struct{}

	// ca signs the certificates of the TLS faults; set by Sim.New (nil: the
	// TLS faults that need it serve the node's usual certificate).
	ca       *certAuthority
	certDir  string
	active   atomic.Pointer[map[string]fault]
	bombOnce sync.Once
	bomb     []byte

	reloadMu sync.Mutex // one reload at a time: the poller's, or a test's
	stamp    string     // size and mtime of the file last read; under reloadMu

	mu        sync.Mutex
	certs     map[string]*tls.Certificate // by node and fault
	unknownCA *certAuthority
	secondCA  *certAuthority
	events    map[string]*nodeEvents // by node
	listeners map[string]net.Listener
	conns     map[string]map[net.Conn]struct{} // open connections by node
}

func newFaultSet(s *server, file, certDir string) *faultSet {
	fs := &faultSet{
		file:      file,
		srv:       s,
		certDir:   certDir,
		byName:    make(map[string]*servedNode, len(s.byIP)),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		certs:     map[string]*tls.Certificate{},
		events:    map[string]*nodeEvents{},
		listeners: map[string]net.Listener{},
		conns:     map[string]map[net.Conn]struct{}{},
	}
	for _, n := range s.byIP {
		fs.byName[n.name] = n
	}
	empty := map[string]fault{}
	fs.active.Store(&empty)
	s.srv.ConnState = fs.connState
	return fs
}

// start applies the file as it is now (before anything is served), then
// follows its changes until shutdown.
func (fs *faultSet) start() {
	fs.mu.Lock()
	for _, l := range fs.srv.listeners {
		if n := fs.srv.nodeFor(l.Addr()); n != nil {
			fs.listeners[n.name] = l
		}
	}
	fs.mu.Unlock()
	fs.reload()
	go func() {
		defer close(fs.done)
		t := time.NewTicker(faultPollInterval)
		defer t.Stop()
		for {
			select {
			case <-fs.stop:
				return
			case <-t.C:
				fs.reload()
			}
		}
	}()
}

func (fs *faultSet) shutdown() {
	select {
	case <-fs.stop:
	default:
		close(fs.stop)
		<-fs.done
	}
}

// reload re-reads the fault file when its size or time changed. A file that
// cannot be read or parsed leaves the faults as they were.
func (fs *faultSet) reload() {
	fs.reloadMu.Lock()
	defer fs.reloadMu.Unlock()
	st, err := os.Stat(fs.file)
	stamp := ""
	switch {
	case errors.Is(err, os.ErrNotExist):
		stamp = "absent"
	case err != nil:
		klog.ErrorS(err, "Reading the fault file", "path", fs.file)
		return
	default:
		stamp = fmt.Sprintf("%d/%d", st.Size(), st.ModTime().UnixNano())
	}
	if stamp == fs.stamp {
		return
	}
	var next map[string]fault
	if stamp != "absent" {
		data, err := os.ReadFile(fs.file)
		if err != nil {
			klog.ErrorS(err, "Reading the fault file", "path", fs.file)
			return
		}
		if next, err = parseFaults(data); err != nil {
			klog.ErrorS(err, "Ignoring the fault file", "path", fs.file)
			fs.stamp = stamp
			return
		}
	}
	for node := range next {
		if fs.byName[node] == nil {
			klog.InfoS("Fault for a node this simulator does not serve, ignored", "node", klog.KRef("", node))
			delete(next, node)
		}
	}
	fs.apply(next)
	fs.stamp = stamp
}

func (fs *faultSet) apply(next map[string]fault) {
	prev := *fs.active.Load()
	now := fs.srv.clock.Now()
	for node, f := range next {
		if f.name == FaultGzipBomb {
			fs.bombOnce.Do(fs.makeBomb) // before it is served: the first answer must not be late
		}
		if f.isEvent() && prev[node] != f {
			fs.applyEvent(fs.byName[node], f, now)
		}
	}
	changed := map[string]bool{}
	for node, f := range next {
		if prev[node] != f {
			changed[node] = true
		}
	}
	for node := range prev {
		if _, ok := next[node]; !ok {
			changed[node] = true
		}
	}
	fs.active.Store(&next)
	if len(changed) > 0 {
		klog.InfoS("Faults applied", "faults", faultSummary(next))
	}
	for node := range changed {
		n := fs.byName[node]
		if next[node].name == FaultRefuse {
			fs.closeListener(n)
		} else {
			fs.openListener(n)
		}
		if !next[node].isEvent() && !prev[node].isEvent() {
			// New connections get the new behaviour (and certificate).
			fs.closeConns(n)
		}
		klog.V(2).InfoS("Node fault changed", "node", klog.KRef("", node), "fault", next[node].String(), "previous", prev[node].String())
	}
}

func (fs *faultSet) faultOf(node string) fault { return (*fs.active.Load())[node] }

func (fs *faultSet) connState(c net.Conn, state http.ConnState) {
	n := fs.srv.nodeFor(c.LocalAddr())
	if n == nil {
		return
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	switch state {
	case http.StateNew:
		if fs.conns[n.name] == nil {
			fs.conns[n.name] = map[net.Conn]struct{}{}
		}
		fs.conns[n.name][c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(fs.conns[n.name], c)
	}
}

func (fs *faultSet) closeConns(n *servedNode) {
	fs.mu.Lock()
	conns := fs.conns[n.name]
	delete(fs.conns, n.name)
	fs.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
}

func (fs *faultSet) closeListener(n *servedNode) {
	fs.mu.Lock()
	l := fs.listeners[n.name]
	delete(fs.listeners, n.name)
	fs.mu.Unlock()
	if l == nil {
		return
	}
	// (closed before serve() ran, ServeTLS returns at once)
	_ = l.Close()
}

func (fs *faultSet) openListener(n *servedNode) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.listeners[n.name] != nil || fs.srv.port == 0 {
		return
	}
	l, err := net.Listen("tcp", netip.AddrPortFrom(n.ip, uint16(fs.srv.port)).String())
	if err != nil {
		klog.ErrorS(err, "Listening again after a refuse fault", "node", klog.KRef("", n.name))
		return
	}
	fs.listeners[n.name] = l
	go func() {
		if err := fs.srv.srv.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			klog.ErrorS(err, "Serving stopped", "address", l.Addr().String())
		}
	}()
}

// certificate returns the certificate a TLS fault serves, nil otherwise.
func (fs *faultSet) certificate(n *servedNode) *tls.Certificate {
	if fs == nil {
		return nil
	}
	f := fs.faultOf(n.name)
	if !strings.HasPrefix(f.name, "tls-") {
		return nil
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	key := n.name + "/" + f.name
	if c := fs.certs[key]; c != nil {
		return c
	}
	now := time.Now()
	ca, dns, ips := fs.ca, []string{n.name}, []netip.Addr{n.ip}
	notBefore, notAfter := now.Add(-time.Hour), now.Add(servingValidity)
	switch f.name {
	case FaultTLSUnknownCA:
		if fs.unknownCA == nil {
			fs.unknownCA = fs.newCA("kubelet-sim-unknown-ca", "")
		}
		ca = fs.unknownCA
	case FaultTLSExpired:
		notBefore, notAfter = now.Add(-30*24*time.Hour), now.Add(-24*time.Hour)
	case FaultTLSWrongName:
		dns, ips = []string{"not-" + n.name + ".invalid"}, []netip.Addr{netip.MustParseAddr("192.0.2.1")}
	case FaultTLSNameOnly:
		ips = nil
	case FaultTLSSecondCA:
		ca = fs.secondCALocked()
	}
	if ca == nil {
		return nil
	}
	c, err := issueCert(ca, n.name, dns, ips, notBefore, notAfter)
	if err != nil {
		klog.ErrorS(err, "Issuing a fault certificate", "node", klog.KRef("", n.name), "fault", f.name)
		return nil
	}
	fs.certs[key] = c
	return c
}

// SecondCAPath is where the second CA's certificate is written, for
// FaultTLSSecondCA, when the simulator has a cert dir.
func SecondCAPath(certDir string) string { return filepath.Join(certDir, secondCADir, caCertFile) }

func (fs *faultSet) secondCALocked() *certAuthority {
	if fs.secondCA == nil {
		dir := ""
		if fs.certDir != "" {
			dir = filepath.Join(fs.certDir, secondCADir)
		}
		fs.secondCA = fs.newCA("kubelet-sim-second-ca", dir)
	}
	return fs.secondCA
}

func (fs *faultSet) newCA(what, dir string) *certAuthority {
	ca, err := loadOrCreateCA(dir, time.Now())
	if err != nil {
		klog.ErrorS(err, "Creating a CA for TLS faults", "ca", what)
		return nil
	}
	return ca
}

func issueCert(ca *certAuthority, cn string, dns []string, ips []netip.Addr, notBefore, notAfter time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     dns,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM)
	if err != nil {
		return nil, err
	}
	return &pair, nil
}

// serve answers a metrics request of a faulty node; false when the node has
// no fault that changes the answer.
func (fs *faultSet) serve(w http.ResponseWriter, r *http.Request, n *servedNode) bool {
	f := fs.faultOf(n.name)
	fs.mu.Lock()
	ev := fs.events[n.name]
	fs.mu.Unlock()
	if (f.name == "" || f.isEvent() || strings.HasPrefix(f.name, "tls-")) && ev == nil {
		return false
	}
	switch f.name {
	case FaultHangHeaders:
		fs.hang(r)
		// never answer: returning lets net/http send an empty 200, which a
		// client giving up at that moment could still read (TestFaultsAnswers
		// got one in about one run of 50 under load); aborting closes the
		// connection without a response
		panic(http.ErrAbortHandler)
	case FaultRefuse:
		// a connection opened before the fault: drop it
		fs.closeConns(n)
		panic(http.ErrAbortHandler)
	case FaultHTTP500, FaultHTTP401, FaultHTTP403, FaultHTTP404, FaultHTTP406:
		code, _ := strconv.Atoi(strings.TrimPrefix(f.name, "http-"))
		msg := http.StatusText(code)
		if code == http.StatusUnauthorized {
			msg += ": " + r.Header.Get("Authorization")
		}
		http.Error(w, msg, code)
		return true
	case FaultHugeBody:
		fs.writeHuge(w, r)
		return true
	case FaultGzipBomb:
		fs.bombOnce.Do(fs.makeBomb)
		w.Header().Set("Content-Type", contentTypeText)
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(fs.bomb)
		return true
	}
	now := fs.srv.clock.Now()
	buf := n.metrics.AppendText(nil, now)
	if ev != nil {
		buf = ev.apply(buf)
	}
	h := w.Header()
	h.Set("Content-Type", contentTypeText)
	switch f.name {
	case FaultHangBody:
		_, _ = w.Write(buf[:len(buf)/2])
		flush(w)
		fs.hang(r)
		return true
	case FaultSlowDrip:
		fs.drip(w, r, buf)
		return true
	case FaultTruncatedGzip:
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
		_, _ = zw.Write(buf)
		_ = zw.Close()
		h.Set("Content-Encoding", "gzip")
		_, _ = w.Write(z.Bytes()[:z.Len()/2])
		return true
	}
	buf = transformPayload(f, buf)
	if fs.srv.gzip && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		_, _ = zw.Write(buf)
		_ = zw.Close()
		return true
	}
	h.Set("Content-Length", strconv.Itoa(len(buf)))
	_, _ = w.Write(buf)
	return true
}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// hang waits until the client goes away, the simulator stops, or maxHang.
func (fs *faultSet) hang(r *http.Request) {
	t := time.NewTimer(maxHang)
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-fs.stop:
	case <-t.C:
	}
}

func (fs *faultSet) drip(w http.ResponseWriter, r *http.Request, buf []byte) {
	t := time.NewTicker(dripEvery)
	defer t.Stop()
	deadline := time.Now().Add(maxHang)
	for i := 0; i < len(buf) && time.Now().Before(deadline); i++ {
		if _, err := w.Write(buf[i : i+1]); err != nil {
			return
		}
		flush(w)
		select {
		case <-r.Context().Done():
			return
		case <-fs.stop:
			return
		case <-t.C:
		}
	}
}

// hugeBody is the size of FaultHugeBody's body and FaultGzipBomb's
// inflated one (a variable so unit tests can afford it).
var hugeBody = 100 << 20

// padding is what the huge bodies are made of: comment lines, valid text.
var padding = bytes.Repeat([]byte("# kubelet-sim huge-body padding: a valid comment line, repeated\n"), 1024)

func (fs *faultSet) writeHuge(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", contentTypeText)
	for sent := 0; sent < hugeBody; sent += len(padding) {
		if r.Context().Err() != nil {
			return
		}
		if _, err := w.Write(padding); err != nil {
			return
		}
	}
}

func (fs *faultSet) makeBomb() {
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	for sent := 0; sent < hugeBody; sent += len(padding) {
		_, _ = zw.Write(padding)
	}
	_ = zw.Close()
	fs.bomb = z.Bytes()
}

// transformPayload applies the payload faults to a rendered payload.
func transformPayload(f fault, buf []byte) []byte {
	switch f.name {
	case FaultMalformed:
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			i = len(buf) - 1
		}
		out := append([]byte{}, buf[:i+1]...)
		out = append(out, `container_cpu_usage_seconds_total{container="broken",namespace="kubelet-sim" 1`+"\n"...)
		return append(out, buf[i+1:]...)
	case FaultDuplicateSeries:
		return mapSamples(buf, func(s *faultSample, emit func(faultSample)) {
			emit(*s)
			if s.name == nameNodeCPU {
				emit(*s)
			}
		})
	case FaultNaN:
		return mapValues(buf, nameNodeCPU, func(float64) float64 { return math.NaN() })
	case FaultInf:
		return mapValues(buf, nameContainerMemory, func(float64) float64 { return math.Inf(1) })
	case FaultNegative:
		return mapValues(buf, nameContainerCPU, func(v float64) float64 { return -v - 1 })
	case FaultFutureTimestamps, FaultPastTimestamps:
		shift := timestampYr.Milliseconds()
		if f.name == FaultPastTimestamps {
			shift = -shift
		}
		return mapSamples(buf, func(s *faultSample, emit func(faultSample)) {
			if s.ts != "" {
				ms, _ := strconv.ParseInt(s.ts, 10, 64)
				s.ts = strconv.FormatInt(ms+shift, 10)
			}
			emit(*s)
		})
	}
	return buf
}

// faultSample is one sample line taken apart; labels include the braces.
type faultSample struct{ name, labels, value, ts string }

func (s faultSample) appendTo(dst []byte) []byte {
	dst = append(dst, s.name...)
	dst = append(dst, s.labels...)
	dst = append(dst, ' ')
	dst = append(dst, s.value...)
	if s.ts != "" {
		dst = append(dst, ' ')
		dst = append(dst, s.ts...)
	}
	return append(dst, '\n')
}

// parseFaultSample splits a sample line as the simulator prints it (label values
// never hold '}' or spaces here).
func parseFaultSample(line string) (faultSample, bool) {
	if line == "" || line[0] == '#' {
		return faultSample{}, false
	}
	var s faultSample
	rest := line
	if i := strings.IndexAny(rest, "{ "); i >= 0 && rest[i] == '{' {
		j := strings.IndexByte(rest, '}')
		if j < i {
			return faultSample{}, false
		}
		s.name, s.labels, rest = rest[:i], rest[i:j+1], rest[j+1:]
	} else if i >= 0 {
		s.name, rest = rest[:i], rest[i:]
	} else {
		return faultSample{}, false
	}
	fields := strings.Fields(rest)
	switch len(fields) {
	case 1:
		s.value = fields[0]
	case 2:
		s.value, s.ts = fields[0], fields[1]
	default:
		return faultSample{}, false
	}
	return s, true
}

// mapSamples rewrites every sample line with fn (which emits zero or more
// lines); other lines are kept.
func mapSamples(buf []byte, fn func(s *faultSample, emit func(faultSample))) []byte {
	out := make([]byte, 0, len(buf)+256)
	emit := func(s faultSample) { out = s.appendTo(out) }
	for _, line := range strings.SplitAfter(string(buf), "\n") {
		if line == "" {
			continue
		}
		s, ok := parseFaultSample(strings.TrimSuffix(line, "\n"))
		if !ok {
			out = append(out, line...)
			continue
		}
		fn(&s, emit)
	}
	return out
}

func mapValues(buf []byte, name string, fn func(float64) float64) []byte {
	return mapSamples(buf, func(s *faultSample, emit func(faultSample)) {
		if s.name == name {
			v, _ := strconv.ParseFloat(s.value, 64)
			s.value = string(appendFloat(nil, fn(v)))
		}
		emit(*s)
	})
}

// nodeEvents are the counter resets and reboots a node went through: every
// CPU counter series is shifted down by its value at the event, as long as
// the series has not restarted by itself since.
type nodeEvents struct {
	mu      sync.Mutex
	offsets map[string]float64 // series (name+labels) -> counter at the event
	starts  map[string]float64 // container labels -> start time at the event
	reboot  float64            // Unix seconds of the last reboot, 0 if none
}

func (fs *faultSet) applyEvent(n *servedNode, f fault, now time.Time) {
	fs.mu.Lock()
	ev := fs.events[n.name]
	if ev == nil {
		ev = &nodeEvents{offsets: map[string]float64{}, starts: map[string]float64{}}
		fs.events[n.name] = ev
	}
	fs.mu.Unlock()
	// What the client sees now, after any earlier event, becomes the zero;
	// start times are compared with the unshifted ones later.
	raw := n.metrics.AppendText(nil, now)
	seen := ev.apply(raw)
	ev.mu.Lock()
	defer ev.mu.Unlock()
	starts := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		if s, ok := parseFaultSample(line); ok && s.name == nameContainerStart {
			starts[s.labels], _ = strconv.ParseFloat(s.value, 64)
		}
	}
	for _, line := range strings.Split(string(seen), "\n") {
		s, ok := parseFaultSample(line)
		if !ok || !isCPUCounter(s.name) {
			continue
		}
		v, _ := strconv.ParseFloat(s.value, 64)
		key := s.name + s.labels
		ev.offsets[key] += v
		if s.name == nameContainerCPU {
			ev.starts[s.labels] = starts[s.labels]
		}
	}
	if f.name == FaultReboot {
		ev.reboot = float64(now.UnixMilli()) / 1e3
	}
	klog.InfoS("Node event", "node", klog.KRef("", n.name), "event", f.String(), "series", len(ev.offsets))
}

func isCPUCounter(name string) bool {
	return name == nameNodeCPU || name == nameContainerCPU || name == namePodCPU
}

// apply shifts the counters of a rendered payload and, after a reboot, the
// start times of the containers that ran before it.
func (ev *nodeEvents) apply(buf []byte) []byte {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if len(ev.offsets) == 0 && ev.reboot == 0 {
		return buf
	}
	starts := map[string]float64{}
	for _, line := range strings.Split(string(buf), "\n") {
		if s, ok := parseFaultSample(line); ok && s.name == nameContainerStart {
			starts[s.labels], _ = strconv.ParseFloat(s.value, 64)
		}
	}
	var stale []string
	out := mapSamples(buf, func(s *faultSample, emit func(faultSample)) {
		switch {
		case isCPUCounter(s.name):
			key := s.name + s.labels
			off, ok := ev.offsets[key]
			if !ok {
				break
			}
			v, _ := strconv.ParseFloat(s.value, 64)
			restarted := s.name == nameContainerCPU && starts[s.labels] != ev.starts[s.labels]
			if restarted || v < off {
				stale = append(stale, key) // the series started over by itself
				break
			}
			s.value = string(appendFloat(nil, v-off))
		case s.name == nameContainerStart && ev.reboot > 0:
			if _, ran := ev.starts[s.labels]; ran {
				if v, _ := strconv.ParseFloat(s.value, 64); v < ev.reboot {
					s.value = string(appendFloat(nil, ev.reboot))
				}
			}
		}
		emit(*s)
	})
	for _, k := range stale {
		delete(ev.offsets, k)
	}
	return out
}

// faultSummary lists the nodes' faults, for logs.
func faultSummary(m map[string]fault) string {
	parts := make([]string, 0, len(m))
	for n, f := range m {
		parts = append(parts, n+"="+f.String())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
