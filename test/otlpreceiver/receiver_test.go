package otlpreceiver

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TestReceiverGetsSDKSpans exports two spans (parent and child) with the real
// OTLP gRPC exporter and checks what the receiver kept and wrote.
func TestReceiverGetsSDKSpans(t *testing.T) {
	var out bytes.Buffer
	r, err := Start("127.0.0.1:0", Options{Out: &out, Keep: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(r.Addr()), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "unit-test"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(res))
	tracer := tp.Tracer("scope-a")
	pctx, parent := tracer.Start(ctx, "parent", trace.WithSpanKind(trace.SpanKindServer))
	_, child := tracer.Start(pctx, "child", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("s", "v"), attribute.Int64("n", 42), attribute.Bool("b", true)))
	child.SetStatus(codes.Error, "bad")
	child.End()
	parent.End()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}

	spans := r.Spans()
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2: %+v", len(spans), spans)
	}
	byName := map[string]Span{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	p, c := byName["parent"], byName["child"]
	want := parent.SpanContext()
	tests := []struct {
		what, got, want string
	}{
		{"parent trace id", p.TraceID, want.TraceID().String()},
		{"parent span id", p.SpanID, want.SpanID().String()},
		{"parent's parent", p.ParentSpanID, ""},
		{"parent kind", p.Kind, "server"},
		{"child trace id", c.TraceID, want.TraceID().String()},
		{"child parent", c.ParentSpanID, want.SpanID().String()},
		{"child kind", c.Kind, "client"},
		{"child status", c.Status, "error"},
		{"parent status", p.Status, "unset"},
		{"service", c.Service, "unit-test"},
		{"scope", c.Scope, "scope-a"},
		{"string attribute", c.Attributes["s"], "v"},
		{"int attribute", c.Attributes["n"], "42"},
		{"bool attribute", c.Attributes["b"], "true"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.what, tc.got, tc.want)
		}
	}
	if !c.End.After(c.Start) && !c.End.Equal(c.Start) {
		t.Errorf("child ends %v before it starts %v", c.End, c.Start)
	}

	// the file holds the same spans
	path := filepath.Join(t.TempDir(), "spans.jsonl")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	fromFile, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(fromFile) != 2 || fromFile[0].SpanID != spans[0].SpanID || fromFile[1].Attributes["n"] != spans[1].Attributes["n"] {
		t.Errorf("file spans %+v, want %+v", fromFile, spans)
	}
}

func TestReadFile(t *testing.T) {
	line := `{"traceId":"01","spanId":"02","name":"a","kind":"server","service":"s","start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:00:01Z","status":"unset"}`
	tests := []struct {
		name    string
		content string
		want    int
		wantErr bool
	}{
		{"empty", "", 0, false},
		{"two lines", line + "\n" + line + "\n", 2, false},
		{"partial last line is a write in progress", line + "\n" + line[:20], 1, false},
		{"corrupt complete line", line + "\n{oops\n", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "spans.jsonl")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			spans, err := ReadFile(path)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if len(spans) != tc.want {
				t.Errorf("got %d spans, want %d", len(spans), tc.want)
			}
		})
	}
}
