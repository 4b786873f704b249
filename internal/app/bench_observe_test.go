package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
)

// BenchmarkAttestObservability measures what observation costs one
// attestation through the whole HTTP handler: three servers in the same
// process — plain (no admin listener, tracing off), metrics (admin
// listener, tracing off: the production default with metrics-addr), and
// metrics+spans (every span recorded by the SDK and handed to an exporter
// that drops it) — are called in turn within each iteration, so machine
// load affects all three alike. It reports ns per attestation of each and
// the overheads in percent.
func BenchmarkAttestObservability(b *testing.B) {
	t := &testing.T{}
	startWith := func(metrics bool, opts Options) *App {
		cfg := replayConfig(t, "aad")
		if metrics {
			cfg.MetricsAddr = "127.0.0.1:0"
		}
		a, err := NewWithOptions(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard, opts)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { a.Run(ctx); close(done) }()
		b.Cleanup(func() { cancel(); <-done })
		return a
	}
	apps := []*App{startWith(false, Options{}), startWith(true, Options{}), startWith(true, Options{SpanExporter: tracetest.NewNoopExporter()})}
	report := readB64(t, sgxvectors.Path("maa", "openenclave_report.b64url"))
	body, _ := json.Marshal(map[string]any{"report": jose.B64.EncodeToString(report)})
	do := func(a *App) time.Duration {
		req := httptest.NewRequest("POST", "/attest/OpenEnclave?api-version=2022-08-01", bytes.NewReader(body))
		w := httptest.NewRecorder()
		t0 := time.Now()
		a.handler.ServeHTTP(w, req)
		d := time.Since(t0)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
		return d
	}
	for _, a := range apps {
		do(a) // warm the caches
	}
	var sum [3]time.Duration
	i := 0
	for b.Loop() {
		// Rotate the order so none always runs first after a GC.
		for j := range apps {
			k := (i + j) % len(apps)
			sum[k] += do(apps[k])
		}
		i++
	}
	n := float64(i)
	plain, metrics, spans := float64(sum[0])/n, float64(sum[1])/n, float64(sum[2])/n
	b.ReportMetric(plain, "plain-ns/attest")
	b.ReportMetric(metrics, "metrics-ns/attest")
	b.ReportMetric(spans, "metrics+spans-ns/attest")
	b.ReportMetric(100*(metrics-plain)/plain, "metrics-overhead-%")
	b.ReportMetric(100*(spans-plain)/plain, "metrics+spans-overhead-%")
}
