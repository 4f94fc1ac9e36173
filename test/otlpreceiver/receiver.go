// Package otlpreceiver is a minimal OpenTelemetry trace receiver for tests:
// the OTLP/gRPC TraceService (go.opentelemetry.io/proto/otlp) on a loopback
// address, which flattens every span it receives into a Span and keeps it in
// memory, appends it as one JSON line to a writer, or both. It is test
// tooling: the server never imports it. The end-to-end stack runs it as
// test/otlpreceiver/cmd/otlp-receiver (hack/lib/observability.sh), started
// before kube-apiserver so no exporter ever backs off against a receiver that
// is not up yet.
package otlpreceiver

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// Span is one received span, flattened for tests.
type Span struct {
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId,omitempty"`
	Name         string `json:"name"`
	// Kind is "server", "client", "internal", "producer", "consumer" or "unspecified".
	Kind string `json:"kind"`
	// Service is the resource's service.name.
	Service string `json:"service"`
	// Scope is the instrumentation scope (tracer) name.
	Scope string    `json:"scope,omitempty"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Attributes holds every attribute's value as text (ints in decimal).
	Attributes map[string]string `json:"attributes,omitempty"`
	// Status is "unset", "ok" or "error".
	Status string `json:"status"`
	// Links are the spans this one is linked to, as "traceID/spanID".
	Links []string `json:"links,omitempty"`
}

// Options configure a Receiver.
type Options struct {
	// Out, when set, receives every span as one JSON line; the writes of one
	// export are flushed together, so a reader never sees half an export's line.
	Out io.Writer
	// Keep keeps the spans in memory for Spans().
	Keep bool
}

// Receiver is a running OTLP/gRPC trace receiver.
type Receiver struct {
	collectortrace.UnimplementedTraceServiceServer
	opts Options
	lis  net.Listener
	srv  *grpc.Server
	done chan struct{}

	mu    sync.Mutex
	out   *bufio.Writer
	spans []Span
	err   error // first write error
}

// Start listens on addr (host:port; port 0 picks one) and serves until Stop.
func Start(addr string, opts Options) (*Receiver, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &Receiver{opts: opts, lis: lis, srv: grpc.NewServer(), done: make(chan struct{})}
	if opts.Out != nil {
		r.out = bufio.NewWriter(opts.Out)
	}
	collectortrace.RegisterTraceServiceServer(r.srv, r)
	go func() {
		defer close(r.done)
		_ = r.srv.Serve(lis)
	}()
	return r, nil
}

// Addr is the address the receiver listens on.
func (r *Receiver) Addr() string { return r.lis.Addr().String() }

// Stop stops serving (exports in flight finish first) and returns the first
// error writing to Out, if any.
func (r *Receiver) Stop() error {
	r.srv.GracefulStop()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Spans returns a copy of the spans kept so far (Options.Keep).
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Export implements the OTLP TraceService.
func (r *Receiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	spans := Flatten(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.opts.Keep {
		r.spans = append(r.spans, spans...)
	}
	if r.out != nil && r.err == nil {
		enc := json.NewEncoder(r.out)
		for i := range spans {
			if err := enc.Encode(&spans[i]); err != nil {
				r.err = err
				break
			}
		}
		if err := r.out.Flush(); err != nil && r.err == nil {
			r.err = err
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// Flatten turns an export request into Spans.
func Flatten(req *collectortrace.ExportTraceServiceRequest) []Span {
	var out []Span
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = valueText(kv.GetValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := Span{
					TraceID:      hex.EncodeToString(s.GetTraceId()),
					SpanID:       hex.EncodeToString(s.GetSpanId()),
					ParentSpanID: hex.EncodeToString(s.GetParentSpanId()),
					Name:         s.GetName(),
					Kind:         kindText(s.GetKind()),
					Service:      service,
					Scope:        ss.GetScope().GetName(),
					Start:        time.Unix(0, int64(s.GetStartTimeUnixNano())).UTC(),
					End:          time.Unix(0, int64(s.GetEndTimeUnixNano())).UTC(),
					Status:       statusText(s.GetStatus().GetCode()),
				}
				if attrs := s.GetAttributes(); len(attrs) > 0 {
					sp.Attributes = make(map[string]string, len(attrs))
					for _, kv := range attrs {
						sp.Attributes[kv.GetKey()] = valueText(kv.GetValue())
					}
				}
				for _, l := range s.GetLinks() {
					sp.Links = append(sp.Links, hex.EncodeToString(l.GetTraceId())+"/"+hex.EncodeToString(l.GetSpanId()))
				}
				out = append(out, sp)
			}
		}
	}
	return out
}

func kindText(k tracev1.Span_SpanKind) string {
	switch k {
	case tracev1.Span_SPAN_KIND_SERVER:
		return "server"
	case tracev1.Span_SPAN_KIND_CLIENT:
		return "client"
	case tracev1.Span_SPAN_KIND_INTERNAL:
		return "internal"
	case tracev1.Span_SPAN_KIND_PRODUCER:
		return "producer"
	case tracev1.Span_SPAN_KIND_CONSUMER:
		return "consumer"
	}
	return "unspecified"
}

func statusText(c tracev1.Status_StatusCode) string {
	switch c {
	case tracev1.Status_STATUS_CODE_OK:
		return "ok"
	case tracev1.Status_STATUS_CODE_ERROR:
		return "error"
	}
	return "unset"
}

func valueText(v *commonv1.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonv1.AnyValue_StringValue:
		return x.StringValue
	case *commonv1.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonv1.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonv1.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonv1.AnyValue_BytesValue:
		return hex.EncodeToString(x.BytesValue)
	case *commonv1.AnyValue_ArrayValue:
		b, _ := json.Marshal(arrayText(x.ArrayValue.GetValues()))
		return string(b)
	case nil:
		return ""
	}
	return fmt.Sprint(v.GetValue())
}

func arrayText(vs []*commonv1.AnyValue) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = valueText(v)
	}
	return out
}

// ReadFile reads the spans a receiver wrote to path (Options.Out). A last
// line without its newline (a write in progress) is ignored.
func ReadFile(path string) ([]Span, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var spans []Span
	br := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return spans, nil // a partial last line is a write in progress
		}
		if err != nil {
			return nil, err
		}
		var s Span
		if err := json.Unmarshal(line, &s); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		spans = append(spans, s)
	}
}
