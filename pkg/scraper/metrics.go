package scraper

import (
	"time"

	"k8s.io/component-base/metrics"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/kubelet"
)

var (
	scrapeDuration = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace:      "metrics_apiserver",
		Subsystem:      "kubelet",
		Name:           "scrape_duration_seconds",
		Help:           "Duration of one scrape of one kubelet's /metrics/resource, successful or not.",
		Buckets:        []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		StabilityLevel: metrics.ALPHA,
	})
	scrapesTotal = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      "metrics_apiserver",
		Subsystem:      "kubelet",
		Name:           "scrapes_total",
		Help:           "Scrapes of kubelets by outcome: success, or the reason the scrape failed.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"outcome"})
	scrapeBytes = metrics.NewCounter(&metrics.CounterOpts{
		Namespace:      "metrics_apiserver",
		Subsystem:      "kubelet",
		Name:           "response_bytes_total",
		Help:           "Bytes of /metrics/resource bodies read from kubelets (after decompression).",
		StabilityLevel: metrics.ALPHA,
	})
	rejectedSamples = metrics.NewCounter(&metrics.CounterOpts{
		Namespace:      "metrics_apiserver",
		Subsystem:      "kubelet",
		Name:           "rejected_samples_total",
		Help:           "Samples dropped because their value was NaN, infinite or negative.",
		StabilityLevel: metrics.ALPHA,
	})
)

// RegisterMetrics registers the scraper's metrics.
func RegisterMetrics(register func(metrics.Registerable) error) error {
	for _, m := range []metrics.Registerable{scrapeDuration, scrapesTotal, scrapeBytes, rejectedSamples} {
		if err := register(m); err != nil {
			return err
		}
	}
	return nil
}

func observeScrape(reason string, elapsed time.Duration, info kubelet.ScrapeInfo) {
	outcome := reason
	if outcome == "" {
		outcome = "success"
	}
	scrapeDuration.Observe(elapsed.Seconds())
	scrapesTotal.WithLabelValues(outcome).Inc()
	scrapeBytes.Add(float64(info.Bytes))
	rejectedSamples.Add(float64(info.Rejected))
}
