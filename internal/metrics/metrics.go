// Package metrics is Maat's Prometheus instrumentation: one registry holding
// the attestation counters and per-stage latency histograms, collateral
// fetch and cache counters, HTTP in-flight and request counters, state read
// at scrape time (policy versions, store health, signing-key age, TLS
// certificate expiry) and the Go runtime and process collectors. Names
// follow Prometheus conventions (maat_ prefix, _total counters, _seconds
// durations); every label takes values from a fixed set known here, never
// from request data.
//
// The registry is served by Handler on the admin listener only, never on
// the MAA surface, whose 404 for unknown paths is part of the contract.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/maat-attest/maat/internal/attestation"
	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/observe"
	"github.com/maat-attest/maat/internal/statuswriter"
)

// Metrics holds the collectors of one server. Create it with New; its
// methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	attestations   *prometheus.CounterVec
	attestDuration *prometheus.HistogramVec
	stages         *prometheus.HistogramVec
	collFetches    *prometheus.CounterVec
	collLookups    *prometheus.CounterVec
	collNextUpdate *prometheus.GaugeVec
	collFetchedAt  *prometheus.GaugeVec
	httpInFlight   prometheus.Gauge
	httpRequests   *prometheus.CounterVec
	httpDuration   prometheus.Histogram
	tpmInFlight    prometheus.Gauge
	tpmSteps       prometheus.Counter
	audit          *prometheus.CounterVec
}

// Latency buckets from 100 µs to 10 s: one attestation with warm caches
// takes about a millisecond, a cold collateral fetch hundreds.
var buckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New returns metrics registered on a fresh registry, with the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		attestations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maat_attestations_total",
			Help: "Attestations by attestation type and result (ok, or the MAA error code returned).",
		}, []string{"type", "result"}),
		attestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "maat_attestation_duration_seconds", Help: "Duration of one attestation (after decoding), by attestation type.", Buckets: buckets,
		}, []string{"type"}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "maat_attestation_stage_duration_seconds", Help: "Duration of each attestation stage: decode, verify, collateral, policy, sign.", Buckets: buckets,
		}, []string{"stage"}),
		collFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maat_collateral_fetches_total", Help: "Collateral fetches from the upstream source (pcs or dir), by kind and result (ok, not_found, unavailable, error).",
		}, []string{"source", "kind", "result"}),
		collLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maat_collateral_cache_lookups_total", Help: "Collateral cache lookups by kind and result (hit: served without calling the source synchronously; miss; error).",
		}, []string{"kind", "result"}),
		collNextUpdate: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "maat_collateral_next_update_timestamp_seconds", Help: "nextUpdate of the collateral last fetched from the source, by kind (Unix time).",
		}, []string{"source", "kind"}),
		collFetchedAt: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "maat_collateral_fetched_timestamp_seconds", Help: "When collateral of this kind was last fetched successfully from the source (Unix time); time() minus it is the staleness.",
		}, []string{"source", "kind"}),
		httpInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "maat_http_requests_in_flight", Help: "HTTP requests being served on the MAA listeners.",
		}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maat_http_requests_total", Help: "HTTP requests served on the MAA listeners, by status code.",
		}, []string{"code"}),
		httpDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "maat_http_request_duration_seconds", Help: "Duration of HTTP requests on the MAA listeners.", Buckets: buckets,
		}),
		tpmInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "maat_tpm_exchanges_in_flight", Help: "TPM protocol messages (challenges and evidence) being processed.",
		}),
		tpmSteps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "maat_tpm_challenges_total", Help: "TPM protocol steps answered without an attestation (challenges issued).",
		}),
		audit: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "maat_audit_records_total", Help: "Audit records written, by operation and result (ok or the error code).",
		}, []string{"operation", "result"}),
	}
	m.reg.MustRegister(m.attestations, m.attestDuration, m.stages, m.collFetches, m.collLookups, m.collNextUpdate,
		m.collFetchedAt, m.httpInFlight, m.httpRequests, m.httpDuration, m.tpmInFlight, m.tpmSteps, m.audit,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Start implements observe.Observer: the stage's duration goes to
// maat_attestation_stage_duration_seconds.
func (m *Metrics) Start(ctx context.Context, s observe.Stage) (context.Context, func(error)) {
	h := m.stages.WithLabelValues(string(s))
	t0 := time.Now()
	return ctx, func(error) { h.Observe(time.Since(t0).Seconds()) }
}

var _ observe.Observer = (*Metrics)(nil)

// Result is the result label of an error: "ok" for nil, else its MAA error
// code (a fixed set).
func Result(err error) string {
	if err == nil {
		return "ok"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	return string(maaerr.As(err).Code)
}

// Audited counts one audit record.
func (m *Metrics) Audited(operation string, err error) {
	m.audit.WithLabelValues(operation, Result(err)).Inc()
}

// Attester is what the HTTP surface calls to attest (internal/httpapi's
// Attester, implemented by attestation.Pipeline).
type Attester interface {
	Supports(t evidence.Type) bool
	Attest(ctx context.Context, req attestation.Request) (string, error)
	Exchange(ctx context.Context, t evidence.Type, msg []byte) ([]byte, error)
}

// Attester returns a counts every attestation by type and result and
// times it. A protocol step that is not an attestation (the TPM challenge,
// seen through an observe.Verifier-wrapped Challenger) is counted as a
// challenge instead.
func (m *Metrics) Attester(a Attester) Attester { return countingAttester{a: a, m: m} }

type countingAttester struct {
	a Attester
	m *Metrics
}

func (c countingAttester) Supports(t evidence.Type) bool { return c.a.Supports(t) }

func (c countingAttester) Attest(ctx context.Context, req attestation.Request) (string, error) {
	t0 := time.Now()
	tok, err := c.a.Attest(ctx, req)
	c.m.attestDuration.WithLabelValues(string(req.Type)).Observe(time.Since(t0).Seconds())
	c.m.attestations.WithLabelValues(string(req.Type), Result(err)).Inc()
	return tok, err
}

func (c countingAttester) Exchange(ctx context.Context, t evidence.Type, msg []byte) ([]byte, error) {
	c.m.tpmInFlight.Inc()
	defer c.m.tpmInFlight.Dec()
	ctx, step := observe.WithStepMarker(ctx)
	t0 := time.Now()
	out, err := c.a.Exchange(ctx, t, msg)
	if step() {
		c.m.tpmSteps.Inc()
		return out, err
	}
	c.m.attestDuration.WithLabelValues(string(t)).Observe(time.Since(t0).Seconds())
	c.m.attestations.WithLabelValues(string(t), Result(err)).Inc()
	return out, err
}

// kindLabel is the fixed label of a collateral kind.
func kindLabel(k collateral.Kind) string {
	switch k {
	case collateral.KindTCBInfo:
		return "tcb_info"
	case collateral.KindQEIdentity:
		return "qe_identity"
	case collateral.KindPCKCRL:
		return "pck_crl"
	case collateral.KindRootCACRL:
		return "root_ca_crl"
	case collateral.KindTDXTCBInfo:
		return "tdx_tcb_info"
	case collateral.KindTDQEIdentity:
		return "td_qe_identity"
	case collateral.KindSGXTCBEvalNums:
		return "sgx_tcb_eval_nums"
	case collateral.KindTDXTCBEvalNums:
		return "tdx_tcb_eval_nums"
	}
	return "other"
}

type fetchedKey struct{}

// Upstream returns src (the source behind the cache: "pcs" or "dir")
// counting its fetches and recording the nextUpdate and fetch time of what
// it returned. name must be a fixed string.
func (m *Metrics) Upstream(name string, src collateral.Source) collateral.Source {
	return upstream{name: name, src: src, m: m}
}

type upstream struct {
	name string
	src  collateral.Source
	m    *Metrics
}

func (u upstream) Fetch(ctx context.Context, key collateral.Key) (*collateral.Item, error) {
	if f, ok := ctx.Value(fetchedKey{}).(*bool); ok {
		*f = true
	}
	it, err := u.src.Fetch(ctx, key)
	kind := kindLabel(key.Kind)
	result := "ok"
	switch {
	case err == nil:
		u.m.collNextUpdate.WithLabelValues(u.name, kind).Set(float64(it.NextUpdate.Unix()))
		u.m.collFetchedAt.WithLabelValues(u.name, kind).Set(float64(it.FetchedAt.Unix()))
	case errors.Is(err, collateral.ErrNotFound):
		result = "not_found"
	case errors.Is(err, collateral.ErrUnavailable):
		result = "unavailable"
	default:
		result = "error"
	}
	u.m.collFetches.WithLabelValues(u.name, kind, result).Inc()
	return it, err
}

// Cache returns cache (a collateral.Cache in front of an Upstream-wrapped
// source) counting lookups as hits (no synchronous upstream fetch), misses
// and errors.
func (m *Metrics) Cache(cache collateral.Source) collateral.Source {
	return cacheLookups{src: cache, m: m}
}

type cacheLookups struct {
	src collateral.Source
	m   *Metrics
}

func (c cacheLookups) Fetch(ctx context.Context, key collateral.Key) (*collateral.Item, error) {
	// The flag is written by the upstream decorator only while this call
	// runs: a background refresh runs on a context without it.
	fetched := new(bool)
	it, err := c.src.Fetch(context.WithValue(ctx, fetchedKey{}, fetched), key)
	result := "hit"
	switch {
	case err != nil:
		result = "error"
	case *fetched:
		result = "miss"
	}
	c.m.collLookups.WithLabelValues(kindLabel(key.Kind), result).Inc()
	return it, err
}

// Middleware counts and times the requests h serves and how many are in
// flight.
func (m *Metrics) Middleware(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.httpInFlight.Inc()
		defer m.httpInFlight.Dec()
		t0 := time.Now()
		sw := statuswriter.Wrap(w)
		h.ServeHTTP(sw, r)
		m.httpDuration.Observe(time.Since(t0).Seconds())
		m.httpRequests.WithLabelValues(strconv.Itoa(sw.Status())).Inc()
	})
}
