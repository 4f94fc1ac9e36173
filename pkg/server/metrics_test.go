package server

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"
)

type fakeSources struct {
	nodes, containers int
	newest            time.Time
	loops             int
}

func (f fakeSources) Series() (int, int)      { return f.nodes, f.containers }
func (f fakeSources) NewestSample() time.Time { return f.newest }
func (f fakeSources) Nodes() int              { return f.loops }

func TestSelfCollector(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		src  fakeSources
		want string
	}{
		{
			name: "before the first scrape: no age",
			src:  fakeSources{loops: 3},
			want: `
# HELP metrics_apiserver_scraped_nodes [ALPHA] Nodes being scraped: one scrape loop each.
# TYPE metrics_apiserver_scraped_nodes gauge
metrics_apiserver_scraped_nodes 3
# HELP metrics_apiserver_store_series [ALPHA] Series held in the store, by kind: node or container.
# TYPE metrics_apiserver_store_series gauge
metrics_apiserver_store_series{kind="container"} 0
metrics_apiserver_store_series{kind="node"} 0
`,
		},
		{
			name: "data 2.5s old",
			src:  fakeSources{nodes: 3, containers: 40, newest: now.Add(-2500 * time.Millisecond), loops: 3},
			want: `
# HELP metrics_apiserver_newest_sample_age_seconds [ALPHA] Seconds since the newest sample any successful scrape delivered (the kubelet's own sample time). Absent until the first successful scrape; grows when no kubelet can be scraped.
# TYPE metrics_apiserver_newest_sample_age_seconds gauge
metrics_apiserver_newest_sample_age_seconds 2.5
# HELP metrics_apiserver_scraped_nodes [ALPHA] Nodes being scraped: one scrape loop each.
# TYPE metrics_apiserver_scraped_nodes gauge
metrics_apiserver_scraped_nodes 3
# HELP metrics_apiserver_store_series [ALPHA] Series held in the store, by kind: node or container.
# TYPE metrics_apiserver_store_series gauge
metrics_apiserver_store_series{kind="container"} 40
metrics_apiserver_store_series{kind="node"} 3
`,
		},
		{
			name: "a sample from the future counts as fresh",
			src:  fakeSources{nodes: 1, newest: now.Add(time.Second), loops: 1},
			want: `
# HELP metrics_apiserver_newest_sample_age_seconds [ALPHA] Seconds since the newest sample any successful scrape delivered (the kubelet's own sample time). Absent until the first successful scrape; grows when no kubelet can be scraped.
# TYPE metrics_apiserver_newest_sample_age_seconds gauge
metrics_apiserver_newest_sample_age_seconds 0
# HELP metrics_apiserver_scraped_nodes [ALPHA] Nodes being scraped: one scrape loop each.
# TYPE metrics_apiserver_scraped_nodes gauge
metrics_apiserver_scraped_nodes 1
# HELP metrics_apiserver_store_series [ALPHA] Series held in the store, by kind: node or container.
# TYPE metrics_apiserver_store_series gauge
metrics_apiserver_store_series{kind="container"} 0
metrics_apiserver_store_series{kind="node"} 1
`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &selfCollector{store: tc.src, scraper: tc.src, now: func() time.Time { return now }}
			if err := testutil.CustomCollectAndCompare(c, strings.NewReader(tc.want)); err != nil {
				t.Error(err)
			}
		})
	}
}

// documentedMetric is one row of a table in docs/metrics.md.
type documentedMetric struct {
	typ, stability, labels, help string
}

// readMetricsDoc returns the rows of docs/metrics.md's tables whose metric
// name starts with prefix.
func readMetricsDoc(t *testing.T, prefix string) map[string]documentedMetric {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]documentedMetric{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "| `"+prefix) {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 5 {
			t.Fatalf("docs/metrics.md: want 5 columns (metric, type, stability, labels, help): %q", line)
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		name := strings.Trim(cells[0], "`")
		if _, dup := out[name]; dup {
			t.Errorf("docs/metrics.md lists %s twice", name)
		}
		labels := strings.ReplaceAll(cells[3], "`", "")
		if labels == "-" {
			labels = ""
		}
		out[name] = documentedMetric{typ: cells[1], stability: cells[2], labels: labels, help: cells[4]}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMetricsDocumented registers exactly what New registers and compares
// every metric with its row in docs/metrics.md: name, type, stability level,
// labels and help text. A metric added, renamed or reworded in one place and
// not the other fails here. Metrics are read from their descriptors, so a
// vector without any series yet is checked too.
func TestMetricsDocumented(t *testing.T) {
	reg := metrics.NewKubeRegistry()
	var registerables []metrics.Registerable
	register := func(r metrics.Registerable) error {
		registerables = append(registerables, r)
		return reg.Register(r)
	}
	src := fakeSources{nodes: 1, containers: 2, newest: time.Now(), loops: 1}
	if err := registerMetrics(register, reg.CustomRegister, src, src); err != nil {
		t.Fatal(err)
	}
	registered := map[string]documentedMetric{}
	for _, r := range registerables {
		name, m := describe(t, r)
		registered[name] = m
	}
	// the custom collector's metrics, from what it serves
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if _, ok := registered[mf.GetName()]; ok {
			continue
		}
		var labels []string
		if len(mf.GetMetric()) > 0 {
			for _, lp := range mf.GetMetric()[0].GetLabel() {
				labels = append(labels, lp.GetName())
			}
		}
		m := documentedMetric{typ: strings.ToLower(dto.MetricType_name[int32(mf.GetType())])}
		m.stability, m.help = splitStability(mf.GetHelp())
		m.labels = joinLabels(labels)
		registered[mf.GetName()] = m
	}
	if len(registered) < 8 {
		t.Fatalf("only %d metrics found: %v", len(registered), registered)
	}
	documented := readMetricsDoc(t, "metrics_apiserver_")
	for name, got := range registered {
		if !strings.HasPrefix(name, "metrics_apiserver_") {
			t.Errorf("metric %s lacks the metrics_apiserver_ prefix", name)
			continue
		}
		doc, ok := documented[name]
		if !ok {
			labels := got.labels
			if labels == "" {
				labels = "-"
			}
			t.Errorf("%s is registered but not in docs/metrics.md; add:\n| `%s` | %s | %s | %s | %s |",
				name, name, got.typ, got.stability, labels, got.help)
			continue
		}
		if doc != got {
			t.Errorf("%s: docs/metrics.md says %+v, the code %+v", name, doc, got)
		}
	}
	for name := range documented {
		if _, ok := registered[name]; !ok {
			t.Errorf("docs/metrics.md lists %s, which is not registered", name)
		}
	}
}

var descRE = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), help: ("(?:[^"\\]|\\.)*"), constLabels: \{[^}]*\}, variableLabels: \{([^}]*)\}\}$`)

// describe reads a registered metric's name, type, stability, labels and
// help from its descriptor.
func describe(t *testing.T, r metrics.Registerable) (string, documentedMetric) {
	t.Helper()
	var m documentedMetric
	switch r.(type) {
	case *metrics.Counter, *metrics.CounterVec:
		m.typ = "counter"
	case *metrics.Gauge, *metrics.GaugeVec:
		m.typ = "gauge"
	case *metrics.Histogram, *metrics.HistogramVec:
		m.typ = "histogram"
	case *metrics.Summary, *metrics.SummaryVec:
		m.typ = "summary"
	default:
		t.Fatalf("%s: unknown metric type %T", r.FQName(), r)
	}
	c, ok := r.(prometheus.Collector)
	if !ok {
		t.Fatalf("%s (%T) is not a prometheus.Collector", r.FQName(), r)
	}
	ch := make(chan *prometheus.Desc, 4)
	c.Describe(ch)
	close(ch)
	var descs []string
	for d := range ch {
		descs = append(descs, d.String())
	}
	if len(descs) != 1 {
		t.Fatalf("%s: %d descriptors, want 1: %v", r.FQName(), len(descs), descs)
	}
	parts := descRE.FindStringSubmatch(descs[0])
	if parts == nil {
		t.Fatalf("cannot parse descriptor %s", descs[0])
	}
	name, err1 := strconv.Unquote(parts[1])
	help, err2 := strconv.Unquote(parts[2])
	if err1 != nil || err2 != nil {
		t.Fatalf("descriptor %s: %v %v", descs[0], err1, err2)
	}
	m.stability, m.help = splitStability(help)
	var labels []string
	for _, l := range strings.Split(parts[3], ",") {
		if l = strings.TrimSpace(l); l != "" {
			labels = append(labels, l)
		}
	}
	m.labels = joinLabels(labels)
	return name, m
}

// splitStability splits "[ALPHA] help" into its level and text.
func splitStability(help string) (string, string) {
	if strings.HasPrefix(help, "[") {
		if end := strings.Index(help, "] "); end > 0 {
			return help[1:end], help[end+2:]
		}
	}
	return "", help
}

func joinLabels(labels []string) string {
	sort.Strings(labels)
	return strings.Join(labels, ", ")
}
