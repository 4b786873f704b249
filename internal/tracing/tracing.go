// Package tracing is Maat's OpenTelemetry tracing: a tracer provider that
// exports over OTLP/HTTP when enabled (off by default; the standard OTEL_*
// environment variables configure the exporter, sampler and resource), W3C
// trace-context propagation from clients, one server span per HTTP request
// and one child span per attestation stage (observe.Observer).
//
// When tracing is disabled the tracer is OpenTelemetry's no-op tracer: the
// hooks stay in place and cost a context lookup per stage.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/observe"
	"github.com/maat-attest/maat/internal/statuswriter"
)

// Options configures New. The zero value is tracing off.
type Options struct {
	// Enabled turns span recording and export on.
	Enabled bool
	// Exporter receives finished spans synchronously (tests use an
	// in-memory exporter); nil means OTLP/HTTP configured from OTEL_*
	// environment variables, batched.
	Exporter sdktrace.SpanExporter
	// ServiceVersion is reported as service.version.
	ServiceVersion string
	// Getenv reads the environment; nil means os.Getenv. Only
	// OTEL_SDK_DISABLED is read here, the SDK reads the rest itself.
	Getenv func(string) string
}

// Tracing holds the tracer provider of one server.
type Tracing struct {
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	enabled  bool
	shutdown func(context.Context) error
}

// Name is the instrumentation scope and default service name.
const Name = "maat"

// New returns the tracing of a server: a no-op tracer when opts.Enabled is
// false or OTEL_SDK_DISABLED is "true", else an SDK tracer provider. It
// returns an error when the OTLP exporter or the resource cannot be built
// from the environment.
func New(ctx context.Context, opts Options) (*Tracing, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	if !opts.Enabled || strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return &Tracing{tracer: noop.NewTracerProvider().Tracer(Name), prop: prop, shutdown: func(context.Context) error { return nil }}, nil
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", Name), attribute.String("service.version", opts.ServiceVersion)))
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the defaults.
	if envRes, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, envRes); err == nil {
			res = merged
		}
	}
	var sp sdktrace.TracerProviderOption
	if opts.Exporter != nil {
		sp = sdktrace.WithSyncer(opts.Exporter)
	} else {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
		}
		sp = sdktrace.WithBatcher(exp)
	}
	// The sampler comes from OTEL_TRACES_SAMPLER (parentbased_always_on by
	// default), read by the SDK.
	tp := sdktrace.NewTracerProvider(sp, sdktrace.WithResource(res))
	return &Tracing{tracer: tp.Tracer(Name), prop: prop, enabled: true, shutdown: tp.Shutdown}, nil
}

// Enabled reports whether spans are recorded.
func (t *Tracing) Enabled() bool { return t.enabled }

// Shutdown flushes and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.shutdown(ctx) }

// Start implements observe.Observer: a child span "maat.<stage>" of the
// span in ctx; a failed stage records the error and its MAA code.
func (t *Tracing) Start(ctx context.Context, s observe.Stage) (context.Context, func(error)) {
	ctx, span := t.tracer.Start(ctx, "maat."+string(s))
	if !span.IsRecording() {
		return ctx, func(error) {}
	}
	return ctx, func(err error) {
		if err != nil {
			fail(span, err)
		}
		span.End()
	}
}

var _ observe.Observer = (*Tracing)(nil)

func fail(span trace.Span, err error) {
	code := maaerr.As(err).Code
	span.SetAttributes(attribute.String("maat.error_code", string(code)))
	span.SetStatus(codes.Error, string(code))
	var me *maaerr.Error
	if !errors.As(err, &me) || me.Code == maaerr.Internal {
		span.RecordError(err)
	}
}

// Middleware starts a server span per request, child of the trace context
// the client sent (W3C traceparent/tracestate). Responses are unchanged (MAA
// sends no trace headers); the span carries the x-ms-request-id, which the
// logs carry too. With tracing off it returns h itself.
func (t *Tracing) Middleware(h http.Handler) http.Handler {
	if !t.enabled {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tracer.Start(ctx, r.Method+" "+route(r.URL.Path), trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
		defer span.End()
		sw := statuswriter.Wrap(w)
		h.ServeHTTP(sw, r.WithContext(ctx))
		status := sw.Status()
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if id := w.Header().Get("x-ms-request-id"); id != "" {
			span.SetAttributes(attribute.String("maat.request_id", id))
		}
		if status >= 500 {
			span.SetStatus(codes.Error, strconv.Itoa(status))
		}
	})
}

// route is the low-cardinality span name of a path: the MAA operation, with
// the attestation type kept (a fixed set) and anything else generalised.
func route(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	switch strings.ToLower(segs[0]) {
	case "attest", "policies":
		if len(segs) == 2 {
			op := "/" + strings.ToLower(segs[0]) + "/{type}"
			if strings.HasSuffix(strings.ToLower(segs[1]), ":reset") {
				op += ":reset"
			}
			return op
		}
	case "certificates", "certificates:add", "certificates:remove", "certs", "healthz", "readyz":
		if len(segs) == 1 {
			return "/" + strings.ToLower(segs[0])
		}
	case ".well-known":
		if len(segs) == 2 && strings.EqualFold(segs[1], "openid-configuration") {
			return "/.well-known/openid-configuration"
		}
	}
	return "other"
}
