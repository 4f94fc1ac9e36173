package options

import (
	"context"
	"fmt"
	"net/http"

	"github.com/spf13/pflag"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	genericfeatures "k8s.io/apiserver/pkg/features"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/tracing"
	tracingapi "k8s.io/component-base/tracing/api/v1"

	"github.com/metrics-apiserver/metrics-apiserver/pkg/version"
)

// TracingServiceName is the service.name of every span this server exports.
const TracingServiceName = "metrics-apiserver"

// TracingOptions is --tracing-config-file: the TracingConfiguration file
// kube-apiserver reads (apiserver.config.k8s.io/v1 or v1beta1: endpoint,
// default localhost:4317, and samplingRatePerMillion), read and validated by
// k8s.io/apiserver's own code. Only the provider is built here, because the
// stock option names its spans' service "apiserver".
type TracingOptions struct {
	*genericoptions.TracingOptions
}

// NewTracingOptions returns options with tracing off.
func NewTracingOptions() *TracingOptions {
	return &TracingOptions{TracingOptions: genericoptions.NewTracingOptions()}
}

// AddFlags adds --tracing-config-file.
func (o *TracingOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ConfigFile, "tracing-config-file", o.ConfigFile,
		"File with the tracing configuration, as kube-apiserver's (apiserver.config.k8s.io/v1 or v1beta1 TracingConfiguration): "+
			"the OTLP gRPC endpoint (default localhost:4317) and samplingRatePerMillion. Requests that arrive with a sampled W3C "+
			"traceparent (from kube-apiserver's aggregator) are traced whatever the rate; node scrapes are sampled at the rate. "+
			"Without a file nothing is traced.")
}

// Validate checks that the file exists, decodes strictly and is valid.
func (o *TracingOptions) Validate() []error {
	if errs := o.TracingOptions.Validate(); len(errs) > 0 {
		return errs
	}
	if _, err := o.config(); err != nil {
		return []error{err}
	}
	return nil
}

// config returns the file's configuration, nil when tracing is off.
func (o *TracingOptions) config() (*tracingapi.TracingConfiguration, error) {
	if o == nil || o.TracingOptions == nil || o.ConfigFile == "" {
		return nil, nil
	}
	c, err := genericoptions.ReadTracingConfiguration(o.ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("--tracing-config-file: %w", err)
	}
	if errs := tracingapi.ValidateTracingConfiguration(c, nil, nil); len(errs) > 0 {
		return nil, fmt.Errorf("--tracing-config-file %s: %w", o.ConfigFile, errs.ToAggregate())
	}
	return c, nil
}

// ApplyTo builds the TracerProvider and sets it on the generic apiserver
// config, so that incoming requests continue the caller's W3C trace and
// loopback requests carry it. It returns the provider for the scraper and the
// kubelet transport, or nil when tracing is off (then c keeps its no-op
// provider and nothing else is wrapped). The generic server shuts the
// provider down, flushing its spans, when it stops.
func (o *TracingOptions) ApplyTo(c *genericapiserver.Config) (trace.TracerProvider, error) {
	cfg, err := o.config()
	if err != nil || cfg == nil {
		return nil, err
	}
	gate := c.FeatureGate
	if gate == nil {
		gate = utilfeature.DefaultFeatureGate // what Complete() will use
	}
	if !gate.Enabled(genericfeatures.APIServerTracing) {
		return nil, fmt.Errorf("--tracing-config-file needs the APIServerTracing feature gate")
	}
	res := []resource.Option{resource.WithAttributes(
		semconv.ServiceName(TracingServiceName),
		semconv.ServiceInstanceID(c.APIServerID),
		semconv.ServiceVersion(version.Get().GitVersion),
	)}
	tp, err := tracing.NewProvider(context.Background(), cfg, nil, res)
	if err != nil {
		return nil, fmt.Errorf("building the tracer provider: %w", err)
	}
	c.TracerProvider = tp
	if c.LoopbackClientConfig != nil {
		c.LoopbackClientConfig.Wrap(func(rt http.RoundTripper) http.RoundTripper { return tracedTransport(rt, tp) })
	}
	return tp, nil
}

// tracedTransport sends the W3C traceparent header of the caller's span with
// every request through rt. A request of a sampled span also gets its own
// client span (otelhttp), whose id the header then carries; an unsampled one
// only gets the header (flags 00), which keeps the cost of tracing at a low
// sampling rate to a header per scrape. The provider is the one passed in,
// never a global; otelhttp's metrics go nowhere.
func tracedTransport(rt http.RoundTripper, tp trace.TracerProvider) http.RoundTripper {
	return &traceTransport{
		base: rt,
		traced: otelhttp.NewTransport(rt,
			otelhttp.WithTracerProvider(tp),
			otelhttp.WithPropagators(propagation.TraceContext{}),
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		),
	}
}

type traceTransport struct {
	base, traced http.RoundTripper
}

func (t *traceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	sc := trace.SpanContextFromContext(r.Context())
	switch {
	case sc.IsSampled():
		return t.traced.RoundTrip(r)
	case sc.IsValid():
		r = r.Clone(r.Context()) // a RoundTripper must not change the caller's request
		propagation.TraceContext{}.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
	}
	return t.base.RoundTrip(r)
}
