package scraper

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	noopoteltrace "go.opentelemetry.io/otel/trace/noop"
	corev1 "k8s.io/api/core/v1"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/kubelet"
	"github.com/metrics-apiserver/metrics-apiserver/pkg/storage"
)

// spanClient answers every scrape with info and err, and remembers the span
// context the request would carry to the kubelet.
type spanClient struct {
	info kubelet.ScrapeInfo
	err  error
	seen trace.SpanContext
}

func (c *spanClient) Scrape(ctx context.Context, node *corev1.Node, _ *kubelet.Decoder, b *storage.NodeBatch) (kubelet.ScrapeInfo, error) {
	c.seen = trace.SpanContextFromContext(ctx)
	b.Reset(node.Name)
	return c.info, c.err
}

type nopSink struct{}

func (nopSink) StoreNode(*storage.NodeBatch) {}
func (nopSink) DeleteNode(string)            {}

// scrapeOnceNow runs one scrape of node name synchronously.
func scrapeOnceNow(t testing.TB, s *Scraper, name string) {
	t.Helper()
	s.AddOrUpdateNode(node(name))
	s.mu.Lock()
	l := s.loops[name]
	s.mu.Unlock()
	l.scrapeOnce(context.Background())
}

func TestScrapeSpan(t *testing.T) {
	ok := kubelet.ScrapeInfo{Address: "10.0.0.1:10250", Bytes: 2048, Series: 7}
	tlsErr := &kubelet.ScrapeError{Reason: kubelet.ReasonTLS, Address: "10.0.0.1:10250", Err: fmt.Errorf("x509: unknown authority")}
	tests := []struct {
		name    string
		sampler sdktrace.Sampler // nil: tracing off
		noop    bool
		info    kubelet.ScrapeInfo
		err     error

		wantSpan       bool
		wantPropagated bool // the kubelet request's context carries a span context
		wantAttrs      map[attribute.Key]attribute.Value
		wantStatus     codes.Code
	}{
		{
			name: "success", sampler: sdktrace.AlwaysSample(), info: ok,
			wantSpan: true, wantPropagated: true, wantStatus: codes.Unset,
			wantAttrs: map[attribute.Key]attribute.Value{
				AttrNode: attribute.StringValue("n1"), AttrAddress: attribute.StringValue("10.0.0.1:10250"),
				AttrBytes: attribute.Int64Value(2048), AttrSeries: attribute.IntValue(7), AttrOutcome: attribute.StringValue("success"),
			},
		},
		{
			name: "failure carries the reason", sampler: sdktrace.AlwaysSample(),
			info: kubelet.ScrapeInfo{Address: "10.0.0.1:10250"}, err: tlsErr,
			wantSpan: true, wantPropagated: true, wantStatus: codes.Error,
			wantAttrs: map[attribute.Key]attribute.Value{
				AttrNode: attribute.StringValue("n1"), AttrAddress: attribute.StringValue("10.0.0.1:10250"),
				AttrBytes: attribute.Int64Value(0), AttrSeries: attribute.IntValue(0), AttrOutcome: attribute.StringValue("tls"),
			},
		},
		{
			// not sampled: no span is exported, yet the trace context still
			// reaches the kubelet (W3C propagates unsampled traces too)
			name: "not sampled", sampler: sdktrace.NeverSample(), info: ok,
			wantSpan: false, wantPropagated: true,
		},
		{name: "noop provider", noop: true, info: ok},
		{name: "tracing off", info: ok},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			opts := Options{Resolution: time.Minute, MaxConcurrent: 1}
			switch {
			case tc.noop:
				opts.TracerProvider = noopoteltrace.NewTracerProvider()
			case tc.sampler != nil:
				opts.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSampler(tc.sampler), sdktrace.WithSpanProcessor(rec))
			}
			client := &spanClient{info: tc.info, err: tc.err}
			scrapeOnceNow(t, New(client, nopSink{}, opts), "n1")

			if got := client.seen.IsValid(); got != tc.wantPropagated {
				t.Errorf("kubelet request carries a span context: %v, want %v", got, tc.wantPropagated)
			}
			spans := rec.Ended()
			if !tc.wantSpan {
				if len(spans) != 0 {
					t.Fatalf("got %d spans, want none", len(spans))
				}
				return
			}
			if len(spans) != 1 {
				t.Fatalf("got %d spans, want 1", len(spans))
			}
			span := spans[0]
			if span.Name() != ScrapeSpanName {
				t.Errorf("span name %q, want %q", span.Name(), ScrapeSpanName)
			}
			if span.Parent().IsValid() {
				t.Errorf("scrape span has parent %s, want a root span", span.Parent().SpanID())
			}
			if span.SpanContext().SpanID() != client.seen.SpanID() || span.SpanContext().TraceID() != client.seen.TraceID() {
				t.Errorf("kubelet request carries %s/%s, want the scrape span %s/%s",
					client.seen.TraceID(), client.seen.SpanID(), span.SpanContext().TraceID(), span.SpanContext().SpanID())
			}
			got := map[attribute.Key]attribute.Value{}
			for _, kv := range span.Attributes() {
				got[kv.Key] = kv.Value
			}
			if len(got) != len(tc.wantAttrs) {
				t.Errorf("attributes %v, want %v", got, tc.wantAttrs)
			}
			for k, want := range tc.wantAttrs {
				if got[k] != want {
					t.Errorf("attribute %s = %v, want %v", k, got[k].Emit(), want.Emit())
				}
			}
			if span.Status().Code != tc.wantStatus {
				t.Errorf("status %v, want %v", span.Status().Code, tc.wantStatus)
			}
			if tc.err != nil && (len(span.Events()) != 1 || span.Events()[0].Name != "exception") {
				t.Errorf("events %v, want the error recorded", span.Events())
			}
		})
	}
}

func TestNoteNewestSample(t *testing.T) {
	const sec = int64(time.Second)
	ctr := func(ts int64) storage.ContainerPoint {
		return storage.ContainerPoint{Point: storage.Point{Timestamp: ts}}
	}
	tests := []struct {
		name    string
		batches []storage.NodeBatch
		want    int64
	}{
		{"none", nil, 0},
		{"node point", []storage.NodeBatch{{ScrapedAt: 20 * sec, NodePoint: storage.Point{Timestamp: 10 * sec, Valid: storage.HasCPU}}}, 10 * sec},
		{"newest container wins", []storage.NodeBatch{{
			ScrapedAt: 20 * sec, NodePoint: storage.Point{Timestamp: 10 * sec, Valid: storage.HasCPU},
			Containers: []storage.ContainerPoint{ctr(12 * sec), ctr(11 * sec)},
		}}, 12 * sec},
		{"invalid node point ignored", []storage.NodeBatch{{
			ScrapedAt: 20 * sec, NodePoint: storage.Point{Timestamp: 19 * sec},
			Containers: []storage.ContainerPoint{ctr(11 * sec)},
		}}, 11 * sec},
		{"kubelet clock ahead is capped at the response time", []storage.NodeBatch{{
			ScrapedAt: 20 * sec, Containers: []storage.ContainerPoint{ctr(25 * sec)},
		}}, 20 * sec},
		{"no sample: response time", []storage.NodeBatch{{ScrapedAt: 20 * sec}}, 20 * sec},
		{"an older node does not move it back", []storage.NodeBatch{
			{ScrapedAt: 30 * sec, Containers: []storage.ContainerPoint{ctr(29 * sec)}},
			{ScrapedAt: 20 * sec, Containers: []storage.ContainerPoint{ctr(19 * sec)}},
		}, 29 * sec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(&spanClient{}, nopSink{}, Options{Resolution: time.Minute})
			for i := range tc.batches {
				s.noteNewestSample(&tc.batches[i])
			}
			want := time.Time{}
			if tc.want != 0 {
				want = time.Unix(0, tc.want)
			}
			if got := s.NewestSample(); !got.Equal(want) {
				t.Errorf("NewestSample() = %v, want %v", got, want)
			}
		})
	}
}

// BenchmarkScrapeOnce measures what tracing adds to one scrape around a
// client that does nothing: "off" is the default (no provider), "noop" a
// no-op provider, "never-sampled" and "sampled" the SDK with no exporter.
//
//	go test -run '^$' -bench ScrapeOnce -benchmem -count 10 ./pkg/scraper
func BenchmarkScrapeOnce(b *testing.B) {
	providers := []struct {
		name string
		tp   trace.TracerProvider
	}{
		{"off", nil},
		{"noop", noopoteltrace.NewTracerProvider()},
		{"never-sampled", sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))},
		{"sampled", sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))},
	}
	for _, p := range providers {
		b.Run(p.name, func(b *testing.B) {
			s := New(&spanClient{info: kubelet.ScrapeInfo{Address: "10.0.0.1:10250", Bytes: 4096, Series: 30}},
				nopSink{}, Options{Resolution: time.Minute, MaxConcurrent: 1, TracerProvider: p.tp})
			s.AddOrUpdateNode(node("n1"))
			l := s.loops["n1"]
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				l.scrapeOnce(ctx)
			}
		})
	}
}
