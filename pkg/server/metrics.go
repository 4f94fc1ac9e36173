package server

import (
	"time"

	"k8s.io/component-base/metrics"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/kubelet"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/scraper"
)

// Self-metrics read at collection time from state the pipeline keeps anyway
// (the store's series counters, the scraper's newest sample and loop count):
// nothing is added to the scrape or serving paths for them. Every metric is
// documented in docs/metrics.md; TestMetricsDocumented keeps the two in step.
var (
	storeSeriesDesc = metrics.NewDesc("metrics_apiserver_store_series",
		"Series held in the store, by kind: node or container.",
		[]string{"kind"}, nil, metrics.ALPHA, "")
	newestSampleAgeDesc = metrics.NewDesc("metrics_apiserver_newest_sample_age_seconds",
		"Seconds since the newest sample any successful scrape delivered (the kubelet's own sample time). Absent until the first successful scrape; grows when no kubelet can be scraped.",
		nil, nil, metrics.ALPHA, "")
	scrapedNodesDesc = metrics.NewDesc("metrics_apiserver_scraped_nodes",
		"Nodes being scraped: one scrape loop each.",
		nil, nil, metrics.ALPHA, "")
)

// metricSources is what the self-metrics are read from.
type metricSources interface {
	Series() (nodes, containers int)
}

type scraperSources interface {
	NewestSample() time.Time
	Nodes() int
}

// selfCollector reports the store's and scraper's state when /metrics is read.
type selfCollector struct {
	metrics.BaseStableCollector
	store   metricSources
	scraper scraperSources
	now     func() time.Time
}

var _ metrics.StableCollector = &selfCollector{}

func (c *selfCollector) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- storeSeriesDesc
	ch <- newestSampleAgeDesc
	ch <- scrapedNodesDesc
}

func (c *selfCollector) CollectWithStability(ch chan<- metrics.Metric) {
	nodes, containers := c.store.Series()
	ch <- metrics.NewLazyConstMetric(storeSeriesDesc, metrics.GaugeValue, float64(nodes), "node")
	ch <- metrics.NewLazyConstMetric(storeSeriesDesc, metrics.GaugeValue, float64(containers), "container")
	if newest := c.scraper.NewestSample(); !newest.IsZero() {
		age := max(c.now().Sub(newest).Seconds(), 0)
		ch <- metrics.NewLazyConstMetric(newestSampleAgeDesc, metrics.GaugeValue, age)
	}
	ch <- metrics.NewLazyConstMetric(scrapedNodesDesc, metrics.GaugeValue, float64(c.scraper.Nodes()))
}

// registerMetrics registers every metric of this server besides those of
// the generic apiserver and the Go/process collectors (legacyregistry has
// them already): each package's own, and the collector above. Register new
// metrics here, so that TestMetricsDocumented sees them.
func registerMetrics(register func(metrics.Registerable) error, registerCustom func(metrics.StableCollector) error,
	store metricSources, scrp scraperSources) error {
	for _, r := range []func(func(metrics.Registerable) error) error{kubelet.RegisterMetrics, scraper.RegisterMetrics} {
		if err := r(register); err != nil {
			return err
		}
	}
	return registerCustom(&selfCollector{store: store, scraper: scrp, now: time.Now})
}
