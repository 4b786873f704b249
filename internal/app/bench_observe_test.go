package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
)

// BenchmarkAttestObservability measures what observation costs one
// attestation through the whole HTTP handler. Four servers run in the same
// process: plain (no admin listener, tracing off), a second plain one (the
// noise floor: its "overhead" should be 0), metrics (admin listener, tracing
// off — the production default with metrics-addr) and metrics+spans (every
// span recorded by the SDK and handed to an exporter that drops it). Each
// iteration attests once on each, in rotating order, so machine load hits
// all alike; every 25 iterations make a round whose per-variant times are
// compared, and the median over rounds of each ratio is reported (robust to
// bursts of load from other processes).
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
	apps := []*App{startWith(false, Options{}), startWith(false, Options{}), startWith(true, Options{}),
		startWith(true, Options{SpanExporter: tracetest.NewNoopExporter()})}
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
	const roundLen = 25
	var round, total [4]time.Duration
	var ratios [3][]float64 // plain2, metrics, metrics+spans over plain, per round
	i := 0
	for b.Loop() {
		for j := range apps {
			k := (i + j) % len(apps)
			d := do(apps[k])
			round[k] += d
			total[k] += d
		}
		i++
		if i%roundLen == 0 {
			for k := range ratios {
				ratios[k] = append(ratios[k], float64(round[k+1])/float64(round[0]))
			}
			round = [4]time.Duration{}
		}
	}
	b.ReportMetric(float64(total[0])/float64(i), "plain-ns/attest")
	b.ReportMetric(float64(total[2])/float64(i), "metrics-ns/attest")
	if len(ratios[0]) == 0 {
		return
	}
	for k, name := range []string{"noise-floor-%", "metrics-overhead-%", "metrics+spans-overhead-%"} {
		b.ReportMetric(100*(median(ratios[k])-1), name)
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
