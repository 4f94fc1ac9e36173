package options

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/rest"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/apiserver"
	"github.com/metrics-apiserver/metrics-apiserver/test/otlpreceiver"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tracing.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTracingOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		content string // "" with noFile: no flag given
		noFile  bool
		missing bool
		wantErr string
	}{
		{name: "no flag: tracing off", noFile: true},
		{name: "v1", content: "apiVersion: apiserver.config.k8s.io/v1\nkind: TracingConfiguration\nendpoint: 127.0.0.1:4317\nsamplingRatePerMillion: 100\n"},
		{name: "v1beta1", content: "apiVersion: apiserver.config.k8s.io/v1beta1\nkind: TracingConfiguration\nsamplingRatePerMillion: 1000000\n"},
		{name: "defaults only", content: "apiVersion: apiserver.config.k8s.io/v1\nkind: TracingConfiguration\n"},
		{name: "file missing", missing: true, wantErr: "does not exist"},
		{name: "rate above a million", content: "apiVersion: apiserver.config.k8s.io/v1\nkind: TracingConfiguration\nsamplingRatePerMillion: 1000001\n", wantErr: "less than or equal to one million"},
		{name: "negative rate", content: "apiVersion: apiserver.config.k8s.io/v1\nkind: TracingConfiguration\nsamplingRatePerMillion: -1\n", wantErr: "must be positive"},
		{name: "unknown field (strict)", content: "apiVersion: apiserver.config.k8s.io/v1\nkind: TracingConfiguration\nsamplingRate: 5\n", wantErr: "unknown field"},
		{name: "wrong kind", content: "apiVersion: apiserver.config.k8s.io/v1\nkind: EgressSelectorConfiguration\n", wantErr: "decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := NewTracingOptions()
			switch {
			case tc.missing:
				o.ConfigFile = filepath.Join(t.TempDir(), "absent.yaml")
			case !tc.noFile:
				o.ConfigFile = writeFile(t, tc.content)
			}
			errs := o.Validate()
			if tc.wantErr == "" {
				if len(errs) != 0 {
					t.Fatalf("Validate() = %v, want no error", errs)
				}
				return
			}
			if len(errs) == 0 || !strings.Contains(errs[0].Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", errs, tc.wantErr)
			}
		})
	}
}

func TestTracingApplyToOff(t *testing.T) {
	c := genericapiserver.NewConfig(apiserver.Codecs)
	before := c.TracerProvider
	tp, err := NewTracingOptions().ApplyTo(c)
	if err != nil {
		t.Fatal(err)
	}
	if tp != nil {
		t.Errorf("ApplyTo returned %T with tracing off, want nil", tp)
	}
	if c.TracerProvider != before {
		t.Errorf("ApplyTo replaced the generic config's provider with tracing off")
	}
}

// TestTracingApplyToExports builds the provider from a config file pointing
// at an in-process OTLP receiver and checks the service name, the generic
// config wiring, and that the kubelet transport sends traceparent.
func TestTracingApplyToExports(t *testing.T) {
	recv, err := otlpreceiver.Start("127.0.0.1:0", otlpreceiver.Options{Keep: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = recv.Stop() }()
	o := NewTracingOptions()
	o.ConfigFile = writeFile(t, "apiVersion: apiserver.config.k8s.io/v1\nkind: TracingConfiguration\nendpoint: "+
		recv.Addr()+"\nsamplingRatePerMillion: 1000000\n")
	if errs := o.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	c := genericapiserver.NewConfig(apiserver.Codecs)
	c.LoopbackClientConfig = &rest.Config{}
	tp, err := o.ApplyTo(c)
	if err != nil {
		t.Fatal(err)
	}
	if tp == nil || c.TracerProvider != tp {
		t.Fatalf("ApplyTo returned %v and set %v, want the same provider", tp, c.TracerProvider)
	}
	if c.LoopbackClientConfig.WrapTransport == nil {
		t.Errorf("loopback client config not wrapped")
	}

	// a "kubelet" that records the traceparent it receives
	got := make(chan string, 1)
	kubelet := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("traceparent")
	}))
	defer kubelet.Close()
	client := &http.Client{Transport: tracedTransport(http.DefaultTransport, tp)}

	ctx, parent := tp.Tracer("test").Start(context.Background(), "parent")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, kubelet.URL+"/metrics/resource", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	parent.End()
	traceparent := <-got
	if err := c.TracerProvider.Shutdown(context.Background()); err != nil { // flushes
		t.Fatal(err)
	}

	spans := recv.Spans()
	var clientSpan *otlpreceiver.Span
	for i := range spans {
		if spans[i].Service != TracingServiceName {
			t.Errorf("span %q has service %q, want %q", spans[i].Name, spans[i].Service, TracingServiceName)
		}
		if spans[i].Kind == "client" {
			clientSpan = &spans[i]
		}
	}
	if len(spans) != 2 || clientSpan == nil {
		t.Fatalf("got spans %+v, want the parent and one client span", spans)
	}
	psc := parent.SpanContext()
	if clientSpan.TraceID != psc.TraceID().String() || clientSpan.ParentSpanID != psc.SpanID().String() {
		t.Errorf("client span %s/%s (parent %s), want a child of %s/%s",
			clientSpan.TraceID, clientSpan.SpanID, clientSpan.ParentSpanID, psc.TraceID(), psc.SpanID())
	}
	want := "00-" + clientSpan.TraceID + "-" + clientSpan.SpanID + "-01"
	if traceparent != want {
		t.Errorf("kubelet got traceparent %q, want %q (the client span, sampled)", traceparent, want)
	}
	if _, err := trace.TraceIDFromHex(clientSpan.TraceID); err != nil {
		t.Errorf("trace id %q: %v", clientSpan.TraceID, err)
	}
}

// TestTracedTransport checks what reaches the kubelet for a sampled, an
// unsampled and an untraced scrape, and which client spans are recorded.
func TestTracedTransport(t *testing.T) {
	got := make(chan string, 1)
	kubelet := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("traceparent")
	}))
	defer kubelet.Close()
	tests := []struct {
		name       string
		sampler    sdktrace.Sampler // nil: no span in the request's context
		wantClient bool             // a client span is recorded and its id sent
		wantFlags  string
	}{
		{name: "sampled: client span", sampler: sdktrace.AlwaysSample(), wantClient: true, wantFlags: "01"},
		{name: "unsampled: header only", sampler: sdktrace.NeverSample(), wantFlags: "00"},
		{name: "no span: nothing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.AlwaysSample()))
			client := &http.Client{Transport: tracedTransport(http.DefaultTransport, tp)}
			ctx := context.Background()
			var parent trace.Span
			if tc.sampler != nil {
				ptp := sdktrace.NewTracerProvider(sdktrace.WithSampler(tc.sampler))
				ctx, parent = ptp.Tracer("test").Start(ctx, "ScrapeNode")
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, kubelet.URL, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if req.Header.Get("traceparent") != "" {
				t.Errorf("the caller's request was modified")
			}
			header := <-got
			if tc.sampler == nil {
				if header != "" {
					t.Errorf("traceparent %q without a span, want none", header)
				}
				return
			}
			psc := parent.SpanContext()
			spans := rec.Ended()
			wantSpanID := psc.SpanID().String()
			if tc.wantClient {
				if len(spans) != 1 || spans[0].SpanKind() != trace.SpanKindClient || spans[0].Parent().SpanID() != psc.SpanID() {
					t.Fatalf("recorded %v, want one client span under the scrape span", spans)
				}
				wantSpanID = spans[0].SpanContext().SpanID().String()
			} else if len(spans) != 0 {
				t.Errorf("recorded %d spans for an unsampled scrape, want none", len(spans))
			}
			if want := "00-" + psc.TraceID().String() + "-" + wantSpanID + "-" + tc.wantFlags; header != want {
				t.Errorf("traceparent %q, want %q", header, want)
			}
		})
	}
}

func TestTracingApplyToUnreachableEndpointDoesNotBlock(t *testing.T) {
	o := NewTracingOptions()
	// nothing listens there; building the provider must not dial
	o.ConfigFile = writeFile(t, "apiVersion: apiserver.config.k8s.io/v1\nkind: TracingConfiguration\nendpoint: 127.0.0.1:1\n")
	c := genericapiserver.NewConfig(apiserver.Codecs)
	start := time.Now()
	tp, err := o.ApplyTo(c)
	if err != nil || tp == nil {
		t.Fatalf("ApplyTo = %v, %v", tp, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("ApplyTo took %s", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.TracerProvider.Shutdown(ctx)
}

// BenchmarkKubeletTransport is one GET to a loopback server through the
// kubelet transport as built with tracing off (not wrapped) and on.
//
//	go test -run '^$' -bench KubeletTransport -benchmem ./cmd/metrics-apiserver/app/options
func BenchmarkKubeletTransport(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("node_cpu_usage_seconds_total 1\n"))
	}))
	defer srv.Close()
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	always := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	for _, bc := range []struct {
		name string
		tp   trace.TracerProvider
	}{{"off", nil}, {"never-sampled", never}, {"sampled", always}} {
		b.Run(bc.name, func(b *testing.B) {
			var rt http.RoundTripper = http.DefaultTransport.(*http.Transport).Clone()
			if bc.tp != nil {
				rt = tracedTransport(rt, bc.tp)
			}
			client := &http.Client{Transport: rt}
			b.ReportAllocs()
			for range b.N {
				ctx := context.Background()
				var span trace.Span
				if bc.tp != nil {
					ctx, span = bc.tp.Tracer("bench").Start(ctx, "ScrapeNode")
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if span != nil {
					span.End()
				}
			}
		})
	}
}
