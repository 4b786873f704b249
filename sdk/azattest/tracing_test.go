package azattest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"

	"github.com/maat-attest/maat/sdk/azattest"
)

// spanRecorder is an azcore tracing provider that records span names and
// their end status, the way azotel plugs OpenTelemetry in.
type spanRecorder struct {
	mu    sync.Mutex
	spans []string
}

func (r *spanRecorder) provider() tracing.Provider {
	return tracing.NewProvider(func(name, version string) tracing.Tracer {
		return tracing.NewTracer(func(ctx context.Context, spanName string, _ *tracing.SpanOptions) (context.Context, tracing.Span) {
			status := "ok"
			return ctx, tracing.NewSpan(tracing.SpanImpl{
				SetStatus: func(c tracing.SpanStatus, _ string) {
					if c == tracing.SpanStatusError {
						status = "error"
					}
				},
				End: func() {
					r.mu.Lock()
					r.spans = append(r.spans, spanName+" "+status)
					r.mu.Unlock()
				},
			})
		}, nil)
	}, nil)
}

// TestClientSpans: with ClientOptions.TracingProvider, every client method
// opens a span named Client.Method (AdministrationClient.Method), ended
// with an error status when the method fails, around azcore's HTTP span.
func TestClientSpans(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/certs" {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":{"code":"InternalError","message":"boom"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"issuer":"x","jwks_uri":"x/certs"}`))
	}))
	defer hs.Close()
	rec := &spanRecorder{}
	opts := &azattest.ClientOptions{}
	opts.ClientOptions = policy.ClientOptions{TracingProvider: rec.provider(), Retry: policy.RetryOptions{MaxRetries: -1}}
	c, err := azattest.NewClient(hs.URL, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetOpenIDMetadata(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSigners(context.Background(), nil); err == nil {
		t.Fatal("GetSigners against a failing /certs succeeded")
	}
	for _, want := range []string{"Client.GetOpenIDMetadata ok", "Client.GetSigners error"} {
		if !slices.Contains(rec.spans, want) {
			t.Errorf("no span %q in %q", want, rec.spans)
		}
	}
	t.Logf("spans: %q", rec.spans)
	if len(rec.spans) < 4 {
		t.Errorf("spans %q: want the method spans and azcore's HTTP spans under them", rec.spans)
	}
}
