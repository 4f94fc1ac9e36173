package scraper

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/kubelet"
)

// TracerName is the instrumentation scope of the scrape spans.
const TracerName = "github.com/metrics-apiserver/metrics-apiserver/pkg/scraper"

// ScrapeSpanName names the span of one scrape of one node. Scrapes are driven
// by each node's timer, not by a request, so every scrape is the root of its
// own trace; the kubelet request beneath it (an HTTP client span when the
// transport is traced) carries its traceparent to the kubelet.
const ScrapeSpanName = "ScrapeNode"

// Attributes of a scrape span.
const (
	AttrNode    = attribute.Key("node")    // the Node's name
	AttrAddress = attribute.Key("address") // host:port that answered, or the last one tried
	AttrBytes   = attribute.Key("bytes")   // body bytes read, after decompression
	AttrSeries  = attribute.Key("series")  // samples stored from the body
	AttrOutcome = attribute.Key("outcome") // "success" or the failure reason, as in metrics_apiserver_kubelet_scrapes_total
)

// startScrapeSpan starts a scrape's span. With tracing off (no tracer) it
// returns ctx and a nil span and costs a nil check.
func (s *Scraper) startScrapeSpan(ctx context.Context) (context.Context, trace.Span) {
	if s.tracer == nil {
		return ctx, nil
	}
	return s.tracer.Start(ctx, ScrapeSpanName)
}

// endScrapeSpan records the outcome on a sampled span and ends it.
// Attributes are only built for a recording span, so an unsampled scrape
// allocates nothing here.
func endScrapeSpan(span trace.Span, node *corev1.Node, info kubelet.ScrapeInfo, reason string, err error) {
	if span == nil {
		return
	}
	if span.IsRecording() {
		span.SetAttributes(
			AttrNode.String(node.GetName()),
			AttrAddress.String(info.Address),
			AttrBytes.Int64(info.Bytes),
			AttrSeries.Int(info.Series),
			AttrOutcome.String(outcomeOf(reason)),
		)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, reason)
		}
	}
	span.End()
}
