package scraper

import (
	"time"

	"k8s.io/component-base/metrics"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/kubelet"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
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

// knownOutcomes are exported from the start, at 0, so that rate() and
// alerts on a failure reason work before its first occurrence. Reasons not
// listed (kubelet.ReasonCanceled, ReasonInvalid) are still counted when they
// happen.
var knownOutcomes = []string{
	outcomeSuccess,
	kubelet.ReasonTimeout, kubelet.ReasonConnection, kubelet.ReasonTLS, kubelet.ReasonHTTPStatus,
	kubelet.ReasonBodyTooLarge, kubelet.ReasonReadBody, kubelet.ReasonDecode, kubelet.ReasonNoAddress,
	kubelet.ReasonInvalidPath, kubelet.ReasonClockSkew, kubelet.ReasonUnknown,
}

const outcomeSuccess = "success"

// RegisterMetrics registers the scraper's metrics.
func RegisterMetrics(register func(metrics.Registerable) error) error {
	for _, m := range []metrics.Registerable{scrapeDuration, scrapesTotal, scrapeBytes, rejectedSamples} {
		if err := register(m); err != nil {
			return err
		}
	}
	// after registration: an unregistered vector ignores label values
	for _, o := range knownOutcomes {
		scrapesTotal.WithLabelValues(o)
	}
	return nil
}

// outcomeOf is the outcome label (and span attribute) of a scrape.
func outcomeOf(reason string) string {
	if reason == "" {
		return outcomeSuccess
	}
	return reason
}

func observeScrape(reason string, elapsed time.Duration, info kubelet.ScrapeInfo) {
	scrapeDuration.Observe(elapsed.Seconds())
	scrapesTotal.WithLabelValues(outcomeOf(reason)).Inc()
	scrapeBytes.Add(float64(info.Bytes))
	rejectedSamples.Add(float64(info.Rejected))
}

// NewestSample is the time of the newest sample any successful scrape has
// delivered (the kubelet's own sample time, never later than when the
// response arrived), or the zero time before the first one.
func (s *Scraper) NewestSample() time.Time {
	ns := s.newestSample.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// noteNewestSample raises NewestSample to the newest point of b. It costs a
// pass over the batch's points and, once per interval and node, one atomic
// compare-and-swap.
func (s *Scraper) noteNewestSample(b *storage.NodeBatch) {
	newest := int64(0)
	if b.NodePoint.Valid != 0 {
		newest = b.NodePoint.Timestamp
	}
	for i := range b.Containers {
		newest = max(newest, b.Containers[i].Timestamp)
	}
	if b.ScrapedAt > 0 && (newest == 0 || newest > b.ScrapedAt) {
		// no sample carried a time, or the kubelet's clock runs ahead
		newest = b.ScrapedAt
	}
	for {
		cur := s.newestSample.Load()
		if newest <= cur || s.newestSample.CompareAndSwap(cur, newest) {
			return
		}
	}
}
