package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	clientmodel "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/metrics-apiserver/metrics-apiserver/test/otlpreceiver"
)

// The observability stack hack/lib/observability.sh sets up: an OTLP receiver
// that kube-apiserver and metrics-apiserver export to (every request sampled),
// both servers auditing metrics.k8s.io at Metadata level, and kubelet-sim
// logging the traceparent of every scrape.

const (
	kubeAPIServerService    = "apiserver" // kube-apiserver's service.name
	metricsAPIServerService = "metrics-apiserver"
)

func obsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("E2E_OBS_DIR")
	if dir == "" {
		t.Fatal("E2E_OBS_DIR is not set: hack/e2e.sh sets up tracing and audit (hack/lib/observability.sh)")
	}
	return dir
}

// poll calls check every interval until it returns nil or timeout passes.
func poll(t *testing.T, timeout, interval time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %v", what, timeout, err)
		}
		time.Sleep(interval)
	}
}

// traceSpans is one trace's spans, indexed.
type traceSpans struct {
	byID     map[string]*otlpreceiver.Span
	children map[string][]*otlpreceiver.Span // parent span id -> children; "" holds the roots
}

func indexTrace(spans []otlpreceiver.Span, traceID string) *traceSpans {
	tr := &traceSpans{byID: map[string]*otlpreceiver.Span{}, children: map[string][]*otlpreceiver.Span{}}
	for i := range spans {
		if spans[i].TraceID == traceID {
			tr.byID[spans[i].SpanID] = &spans[i]
		}
	}
	for _, s := range tr.byID {
		parent := s.ParentSpanID
		if _, ok := tr.byID[parent]; !ok {
			parent = "" // a root, or its parent was not exported (yet)
		}
		tr.children[parent] = append(tr.children[parent], s)
	}
	for _, c := range tr.children {
		sort.Slice(c, func(i, j int) bool { return c[i].Start.Before(c[j].Start) })
	}
	return tr
}

// ancestors returns s's ancestors, nearest first.
func (tr *traceSpans) ancestors(s *otlpreceiver.Span) []*otlpreceiver.Span {
	var out []*otlpreceiver.Span
	for p := tr.byID[s.ParentSpanID]; p != nil && len(out) < 100; p = tr.byID[p.ParentSpanID] {
		out = append(out, p)
	}
	return out
}

// String prints the trace as an indented tree, for the test log and docs.
func (tr *traceSpans) String() string {
	var b strings.Builder
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, s := range tr.children[parent] {
			fmt.Fprintf(&b, "%s%s: %s [%s] %s%s\n", strings.Repeat("  ", depth), s.Service, s.Name, s.Kind,
				s.End.Sub(s.Start).Round(10*time.Microsecond), spanDetail(s))
			walk(s.SpanID, depth+1)
		}
	}
	walk("", 0)
	return b.String()
}

// spanDetail picks the attributes worth showing in a tree.
func spanDetail(s *otlpreceiver.Span) string {
	var parts []string
	for _, k := range []string{"http.target", "url.full", "http.response.status_code", "audit-id", "node", "address", "bytes", "series", "outcome"} {
		if v, ok := s.Attributes[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, " ")
}

// TestObservabilityTraceAndAudit runs kubectl top pod and follows the request
// through kube-apiserver's aggregator into metrics-apiserver: both servers'
// spans share one trace, ours below the aggregator's proxy span, and both
// audit logs hold the request under the same Audit-ID.
func TestObservabilityTraceAndAudit(t *testing.T) {
	dir := obsDir(t)
	ns := newNamespace(t, "e2e-observability")
	createPod(t, simPod(ns, "traced", nil, map[string]string{annCPU: "50m", annMemory: "40Mi"}, "app"))
	runningPod(t, ns, "traced")
	eventually(t, 4*env.resolution+20*time.Second, "kubectl top pod -n "+ns, func() error {
		out, err := kubectl("top", "pod", "-n", ns)
		if err != nil {
			return err
		}
		if !strings.Contains(out, "traced") {
			return fmt.Errorf("no row for the pod in %q", out)
		}
		return nil
	})
	target := "/apis/metrics.k8s.io/v1beta1/namespaces/" + ns + "/pods"
	metricsPort := os.Getenv("E2E_METRICS_PORT")

	var (
		tr               *traceSpans
		kubeSpan, ours   *otlpreceiver.Span
		proxySpan        *otlpreceiver.Span
		kubeAuditID      string
		spansSeen, tried int
	)
	// spans are exported in batches every few seconds by both servers
	poll(t, 60*time.Second, 2*time.Second, "a kubectl top trace through both servers", func() error {
		spans, err := otlpreceiver.ReadFile(filepath.Join(dir, "spans.jsonl"))
		if err != nil {
			return err
		}
		spansSeen, tried = len(spans), 0
		for i := range spans {
			s := &spans[i]
			if s.Service != kubeAPIServerService || s.Kind != "server" || s.Attributes["http.target"] != target ||
				s.Attributes["http.response.status_code"] != "200" || !strings.HasPrefix(s.Attributes["user_agent.original"], "kubectl/") {
				continue
			}
			tried++
			candidate := indexTrace(spans, s.TraceID)
			for _, o := range candidate.byID {
				if o.Service != metricsAPIServerService || o.Kind != "server" || o.Attributes["http.target"] != target {
					continue
				}
				// ours must descend from the aggregator's proxy (client) span,
				// which descends from kube-apiserver's span of this request
				var proxy *otlpreceiver.Span
				reachesKube := false
				for _, a := range candidate.ancestors(o) {
					if proxy == nil && a.Service == kubeAPIServerService && a.Kind == "client" &&
						strings.Contains(a.Attributes["url.full"], ":"+metricsPort+target) {
						proxy = a
					}
					if proxy != nil && a.SpanID == s.SpanID {
						reachesKube = true
					}
				}
				if proxy != nil && reachesKube {
					tr, kubeSpan, ours, proxySpan = candidate, s, o, proxy
					kubeAuditID = s.Attributes["audit-id"]
					return nil
				}
			}
		}
		return fmt.Errorf("%d spans, %d kube-apiserver spans of GET %s, none with a metrics-apiserver span under the aggregator's proxy span", spansSeen, tried, target)
	})
	t.Logf("trace %s of `kubectl top pod -n %s` (%d spans):\n%s", kubeSpan.TraceID, ns, len(tr.byID), tr)
	if ours.TraceID != kubeSpan.TraceID || proxySpan.TraceID != kubeSpan.TraceID {
		t.Fatalf("spans in different traces: %s %s %s", kubeSpan.TraceID, proxySpan.TraceID, ours.TraceID)
	}
	if ours.ParentSpanID != proxySpan.SpanID {
		t.Errorf("our server span's parent is %s, want the aggregator's proxy span %s directly", ours.ParentSpanID, proxySpan.SpanID)
	}
	if ours.Scope == "" || !strings.Contains(ours.Scope, "otelhttp") {
		t.Errorf("our server span comes from scope %q, want the generic apiserver's otelhttp handler", ours.Scope)
	}

	// Audit: kube-apiserver sends its Audit-ID with the proxied request; our
	// audit log must hold the request under the same ID.
	if kubeAuditID == "" {
		t.Fatalf("kube-apiserver's span has no audit-id attribute: %v", kubeSpan.Attributes)
	}
	if got := ours.Attributes["audit-id"]; got != kubeAuditID {
		t.Errorf("our span's audit-id %q, want kube-apiserver's %q", got, kubeAuditID)
	}
	var kubeEvent, ourEvent auditEvent
	poll(t, 20*time.Second, time.Second, "audit events with ID "+kubeAuditID, func() error {
		var err error
		if kubeEvent, err = findAuditEvent(filepath.Join(dir, "kube-apiserver-audit.log"), kubeAuditID); err != nil {
			return fmt.Errorf("kube-apiserver: %w", err)
		}
		if ourEvent, err = findAuditEvent(filepath.Join(dir, "metrics-apiserver-audit.log"), kubeAuditID); err != nil {
			return fmt.Errorf("metrics-apiserver: %w", err)
		}
		return nil
	})
	t.Logf("audit ID %s: kube-apiserver %s %s -> %d; metrics-apiserver %s %s -> %d as %s",
		kubeAuditID, kubeEvent.Verb, kubeEvent.RequestURI, kubeEvent.ResponseStatus.Code,
		ourEvent.Verb, ourEvent.RequestURI, ourEvent.ResponseStatus.Code, ourEvent.User.Username)
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"our requestURI", ourEvent.RequestURI, kubeEvent.RequestURI},
		{"our verb", ourEvent.Verb, kubeEvent.Verb},
		{"our user (from the aggregator's headers)", ourEvent.User.Username, kubeEvent.User.Username},
		{"our response code", ourEvent.ResponseStatus.Code, 200},
		{"kube-apiserver's response code", kubeEvent.ResponseStatus.Code, 200},
		{"our stage", ourEvent.Stage, "ResponseComplete"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

type auditEvent struct {
	AuditID    string `json:"auditID"`
	Stage      string `json:"stage"`
	RequestURI string `json:"requestURI"`
	Verb       string `json:"verb"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// findAuditEvent returns the ResponseComplete event with the audit ID.
func findAuditEvent(path, auditID string) (auditEvent, error) {
	f, err := os.Open(path)
	if err != nil {
		return auditEvent{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(auditID)) {
			continue
		}
		var ev auditEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			continue // a line being written
		}
		if ev.AuditID == auditID && ev.Stage == "ResponseComplete" {
			return ev, nil
		}
	}
	if err := sc.Err(); err != nil {
		return auditEvent{}, err
	}
	return auditEvent{}, fmt.Errorf("no ResponseComplete event with auditID %s in %s", auditID, path)
}

var traceparentLine = regexp.MustCompile(`"Metrics request with traceparent" node="([^"]+)" path="[^"]*" traceparent="([^"]+)"`)

// TestObservabilityScrapeTraceReachesKubelet finds a successful ScrapeNode
// span with its attributes, and the traceparent its kubelet request carried in
// kubelet-sim's log: same trace, the HTTP client span under the scrape span.
func TestObservabilityScrapeTraceReachesKubelet(t *testing.T) {
	dir := obsDir(t)
	simLog := filepath.Join(env.logDir, "e2e-node.log")
	addressRE := regexp.MustCompile(`^` + regexp.QuoteMeta(env.net) + `\.20\.\d+:10250$`)
	var (
		tr            *traceSpans
		scrape, httpc *otlpreceiver.Span
		received      string
	)
	poll(t, 3*env.resolution+30*time.Second, 2*time.Second, "a scrape span whose traceparent reached kubelet-sim", func() error {
		spans, err := otlpreceiver.ReadFile(filepath.Join(dir, "spans.jsonl"))
		if err != nil {
			return err
		}
		logged, err := os.ReadFile(simLog)
		if err != nil {
			return err
		}
		sent := map[string]string{} // traceparent -> node, as kubelet-sim logged them
		for _, m := range traceparentLine.FindAllStringSubmatch(string(logged), -1) {
			sent[m[2]] = m[1]
		}
		scrapes := 0
		for i := range spans {
			s := &spans[i]
			if s.Service != metricsAPIServerService || s.Name != "ScrapeNode" || s.Attributes["outcome"] != "success" ||
				!strings.HasPrefix(s.Attributes["node"], "e2e-node-") {
				continue
			}
			scrapes++
			candidate := indexTrace(spans, s.TraceID)
			for _, c := range candidate.children[s.SpanID] {
				if c.Kind != "client" {
					continue
				}
				want := "00-" + c.TraceID + "-" + c.SpanID + "-01"
				if node, ok := sent[want]; ok && node == s.Attributes["node"] {
					tr, scrape, httpc = candidate, s, c
					return nil
				}
			}
		}
		return fmt.Errorf("%d successful scrape spans of e2e nodes, %d traceparents logged by kubelet-sim, no match", scrapes, len(sent))
	})
	received = "00-" + httpc.TraceID + "-" + httpc.SpanID + "-01"
	t.Logf("scrape trace %s; kubelet-sim %s received traceparent %s:\n%s", scrape.TraceID, scrape.Attributes["node"], received, tr)
	if scrape.ParentSpanID != "" {
		t.Errorf("scrape span has parent %s, want a root", scrape.ParentSpanID)
	}
	if a := scrape.Attributes["address"]; !addressRE.MatchString(a) {
		t.Errorf("address %q, want %s", a, addressRE)
	}
	for _, k := range []string{"bytes", "series"} {
		if n, err := strconv.Atoi(scrape.Attributes[k]); err != nil || n <= 0 {
			t.Errorf("attribute %s = %q, want a positive number", k, scrape.Attributes[k])
		}
	}
	if got, want := httpc.Attributes["url.full"], "https://"+scrape.Attributes["address"]+"/metrics/resource"; got != want {
		t.Errorf("client span url.full %q, want %q", got, want)
	}
}

// metricsClient reaches metrics-apiserver directly on 127.0.0.1, with the
// admin client certificate (authorized by kube-apiserver through our
// delegated authorization) or without one.
func metricsClient(t *testing.T, withCert bool) *http.Client {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(env.pkiDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate in ca.crt")
	}
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if withCert {
		cert, err := tls.LoadX509KeyPair(filepath.Join(env.pkiDir, "admin.crt"), filepath.Join(env.pkiDir, "admin.key"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

func fetchMetrics(t *testing.T, c *http.Client) (int, []byte) {
	t.Helper()
	resp, err := c.Get("https://127.0.0.1:" + os.Getenv("E2E_METRICS_PORT") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// docRow is one row of docs/metrics.md.
type docRow struct{ typ, stability, labels string }

func readDocRows(t *testing.T) map[string]docRow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]docRow{}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 5 {
			t.Fatalf("docs/metrics.md: want 5 columns: %q", line)
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(strings.ReplaceAll(cells[i], "`", ""))
		}
		rows[cells[0]] = docRow{typ: cells[1], stability: cells[2], labels: cells[3]}
	}
	return rows
}

// TestObservabilitySelfMetrics reads the live /metrics, lints it with
// promlint, and checks that every metric docs/metrics.md lists is served
// with the documented type, stability level and labels, and that our own
// metrics describe the running stack.
func TestObservabilitySelfMetrics(t *testing.T) {
	if code, body := fetchMetrics(t, metricsClient(t, false)); code != http.StatusForbidden && code != http.StatusUnauthorized {
		t.Errorf("anonymous GET /metrics: HTTP %d, want 401 or 403: %.200s", code, body)
	}
	var body []byte
	var families map[string]*clientmodel.MetricFamily
	poll(t, 3*env.resolution+10*time.Second, time.Second, "own metrics reflecting the stack", func() error {
		code, b := fetchMetrics(t, metricsClient(t, true))
		if code != http.StatusOK {
			return fmt.Errorf("HTTP %d: %.300s", code, b)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := parser.TextToMetricFamilies(bytes.NewReader(b))
		if err != nil {
			return err
		}
		body, families = b, mfs
		return checkOwnValues(mfs)
	})

	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if reason, ok := upstreamLintExceptions[p.Metric+": "+p.Text]; ok {
			t.Logf("promlint (known upstream, %s): %s: %s", reason, p.Metric, p.Text)
			continue
		}
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	rows := readDocRows(t)
	if len(rows) < 10 {
		t.Fatalf("only %d metrics documented in docs/metrics.md", len(rows))
	}
	for name, row := range rows {
		mf, ok := families[name]
		if !ok && strings.HasPrefix(name, "metrics_apiserver_") && row.labels != "-" {
			// a vector is exposed once it has a series; TestMetricsDocumented
			// (pkg/server) proves it is registered
			t.Logf("%s has no series yet", name)
			continue
		}
		if !ok {
			t.Errorf("docs/metrics.md lists %s; /metrics does not serve it", name)
			continue
		}
		if got := strings.ToLower(mf.GetType().String()); got != row.typ {
			t.Errorf("%s: type %s, documented %s", name, got, row.typ)
		}
		stability := "-"
		if h := mf.GetHelp(); strings.HasPrefix(h, "[") && strings.Contains(h, "] ") {
			stability = h[1:strings.Index(h, "] ")]
		}
		if stability != row.stability {
			t.Errorf("%s: stability %s, documented %s", name, stability, row.stability)
		}
		labels := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = true
			}
		}
		var got []string
		for l := range labels {
			got = append(got, l)
		}
		sort.Strings(got)
		if want := strings.ReplaceAll(row.labels, " ", ""); strings.Join(got, ",") != want && !(want == "-" && len(got) == 0) {
			t.Errorf("%s: labels %v, documented %q", name, got, row.labels)
		}
	}
	own := 0
	for name := range families {
		if strings.HasPrefix(name, "metrics_apiserver_") {
			own++
			if _, ok := rows[name]; !ok {
				t.Errorf("/metrics serves %s, which docs/metrics.md does not list", name)
			}
		}
	}
	t.Logf("/metrics: %d families (%d our own), %d bytes, promlint problems: %d", len(families), own, len(body), len(problems))
}

// upstreamLintExceptions are promlint findings on metrics k8s.io/apiserver
// defines (we cannot rename them); anything else promlint reports fails the
// test, and none of these may name one of our metrics.
var upstreamLintExceptions = map[string]string{
	`authenticated_user_requests: counter metrics should have "_total" suffix`: "k8s.io/apiserver authentication metrics, ALPHA",
	`authentication_attempts: counter metrics should have "_total" suffix`:     "k8s.io/apiserver authentication metrics, ALPHA",
}

// checkOwnValues checks our metrics against the running stack: three
// simulated nodes (at least; other tests add some) scraped successfully, and
// fresh data.
func checkOwnValues(mfs map[string]*clientmodel.MetricFamily) error {
	value := func(name string, labels map[string]string) (float64, error) {
		mf, ok := mfs[name]
		if !ok {
			return 0, fmt.Errorf("%s not served", name)
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == k && l.GetValue() == v)
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), nil
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), nil
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount()), nil
			}
		}
		return 0, fmt.Errorf("%s%v not served", name, labels)
	}
	checks := []struct {
		name   string
		labels map[string]string
		ok     func(float64) bool
		want   string
	}{
		{"metrics_apiserver_kubelet_scrapes_total", map[string]string{"outcome": "success"}, func(v float64) bool { return v >= 3 }, ">= 3"},
		{"metrics_apiserver_kubelet_scrape_duration_seconds", nil, func(v float64) bool { return v >= 3 }, "count >= 3"},
		{"metrics_apiserver_kubelet_response_bytes_total", nil, func(v float64) bool { return v > 0 }, "> 0"},
		{"metrics_apiserver_store_series", map[string]string{"kind": "node"}, func(v float64) bool { return v >= 3 }, ">= 3"},
		{"metrics_apiserver_store_series", map[string]string{"kind": "container"}, func(v float64) bool { return v >= 1 }, ">= 1"},
		{"metrics_apiserver_scraped_nodes", nil, func(v float64) bool { return v >= 3 }, ">= 3"},
		{"metrics_apiserver_newest_sample_age_seconds", nil, func(v float64) bool { return v >= 0 && v < 2*env.resolution.Seconds() }, "in [0, 2×resolution)"},
		{"apiserver_request_total", nil, func(v float64) bool { return v > 0 }, "> 0"},
		{"process_resident_memory_bytes", nil, func(v float64) bool { return v > 1<<20 }, "> 1 MiB"},
		{"go_goroutines", nil, func(v float64) bool { return v > 10 }, "> 10"},
	}
	for _, c := range checks {
		v, err := value(c.name, c.labels)
		if err != nil {
			return err
		}
		if !c.ok(v) {
			return fmt.Errorf("%s%v = %g, want %s", c.name, c.labels, v, c.want)
		}
	}
	return nil
}
