package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/metrics"
	"github.com/maat-attest/maat/internal/observe"
	"github.com/maat-attest/maat/internal/tracing"
)

// Options are what a caller other than `maat serve` can add to an App.
type Options struct {
	// SpanExporter, when set, receives every span synchronously and turns
	// tracing on (tests use an in-memory exporter).
	SpanExporter sdktrace.SpanExporter
	// Version is reported as the service version in traces.
	Version string
}

// observability builds the metrics (when an admin listener is configured)
// and the tracing (no-op unless enabled) of the server, and the observer
// of attestation stages they share.
func (a *App) observability(ctx context.Context) error {
	if a.cfg.MetricsAddr != "" {
		a.metrics = metrics.New()
	}
	t, err := tracing.New(ctx, tracing.Options{
		Enabled:        a.cfg.Tracing || a.opts.SpanExporter != nil,
		Exporter:       a.opts.SpanExporter,
		ServiceVersion: a.opts.Version,
	})
	if err != nil {
		return err
	}
	a.tracing = t
	var obs observe.Multi
	if a.metrics != nil {
		obs = append(obs, a.metrics)
	}
	if t.Enabled() {
		obs = append(obs, t)
		a.log.Info("tracing enabled: spans are exported over OTLP (OTEL_EXPORTER_OTLP_* environment variables)")
	}
	if len(obs) > 0 {
		a.observer = obs
	}
	return nil
}

// listenAdmin binds the admin listener when one is configured.
func (a *App) listenAdmin() error {
	if a.cfg.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", a.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics-addr %s: %w", a.cfg.MetricsAddr, err)
	}
	a.adminLn = ln
	if !config.IsLoopback(a.cfg.MetricsAddr) {
		a.log.Warn("the admin listener (metrics, health) is on a non-loopback address; keep it off the public network", "metrics_addr", ln.Addr().String())
	}
	return nil
}

// AdminAddr returns the bound admin listener address, or "".
func (a *App) AdminAddr() string {
	if a.adminLn == nil {
		return ""
	}
	return a.adminLn.Addr().String()
}

// adminHandler serves the admin listener: /metrics, /healthz, /readyz with
// per-component status, and /debug/pprof when enabled. It is a plain mux,
// apart from the MAA surface and its error envelope.
func (a *App) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeAdminJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		status, components := a.readiness(ctx)
		code := http.StatusOK
		if status != "ready" {
			code = http.StatusServiceUnavailable
		}
		writeAdminJSON(w, code, map[string]any{"status": status, "components": components})
	})
	if a.cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		a.log.Warn("pprof is served on the admin listener", "metrics_addr", a.AdminAddr())
	}
	return mux
}

// componentStatus is one line of /readyz.
type componentStatus struct {
	Status string `json:"status"` // "ok" or "failed"
	Detail string `json:"detail,omitempty"`
}

// readiness checks each component: the store answers, a signing key is
// active, the store was reached within the staleness bound, the TLS
// certificate (if any) has not expired.
func (a *App) readiness(ctx context.Context) (string, map[string]componentStatus) {
	out := map[string]componentStatus{}
	check := func(name string, err error, detail string) {
		if err != nil {
			out[name] = componentStatus{Status: "failed", Detail: err.Error()}
			return
		}
		out[name] = componentStatus{Status: "ok", Detail: detail}
	}
	check("store", a.store.Ping(ctx), "")
	k, err := a.inst.keys.Active()
	kid := ""
	if err == nil {
		kid = "kid " + k.KID
	}
	check("signing_key", err, kid)
	check("freshness", a.fresh(), "")
	if a.certs != nil {
		na, _ := a.certs.notAfter()
		var err error
		if a.now().After(na) {
			err = errors.New("the TLS certificate expired at " + na.Format(time.RFC3339))
		}
		check("tls_certificate", err, "expires "+na.Format(time.RFC3339))
	}
	status := "ready"
	for _, c := range out {
		if c.Status != "ok" {
			status = "unavailable"
		}
	}
	return status, out
}

func writeAdminJSON(w http.ResponseWriter, code int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// registerState gives the metrics what they read at scrape time.
func (a *App) registerState() {
	if a.metrics == nil {
		return
	}
	st := metrics.State{
		StorePing: a.store.Ping,
		PolicyVersions: func(ctx context.Context) (map[string]int64, error) {
			ps, err := a.store.ListPolicies(ctx, a.inst.id)
			if err != nil {
				return nil, err
			}
			out := make(map[string]int64, len(ps))
			for _, p := range ps {
				out[p.AttestationType] = p.Version
			}
			return out, nil
		},
		LastStoreContact: func() time.Time { return time.Unix(0, a.lastStoreOK.Load()) },
		Generation:       a.generation.Load,
		SigningKeyCreated: func() (time.Time, bool) {
			k, err := a.inst.keys.Active()
			if err != nil {
				return time.Time{}, false
			}
			return k.Cert.NotBefore, true
		},
		Now: a.now,
	}
	if a.certs != nil {
		st.TLSNotAfter = a.certs.notAfter
	}
	a.metrics.RegisterState(st)
}
