package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/maat-attest/maat/internal/attestation"
	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/observe"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
)

var pinned = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// TestCollateralCounters: a cold lookup is a miss with one upstream fetch
// (its nextUpdate recorded), the next one a hit without a fetch, a missing
// item an error.
func TestCollateralCounters(t *testing.T) {
	m := New()
	up := m.Upstream("dir", collateral.Dir{Path: sgxvectors.Path("pcs2025"), Now: func() time.Time { return pinned }})
	opts := collateral.DefaultCacheOptions()
	opts.Now = func() time.Time { return pinned }
	src := m.Cache(collateral.NewCache(up, opts))
	key := collateral.Key{Kind: collateral.KindQEIdentity}
	ctx := context.Background()
	it, err := src.Fetch(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Fetch(ctx, key); err != nil {
		t.Fatal(err)
	}
	missing := collateral.Key{Kind: collateral.KindTDQEIdentity} // no TDX collateral in this bundle
	if _, err := src.Fetch(ctx, missing); err == nil {
		t.Fatal("a missing FMSPC was found")
	}
	for _, c := range []struct {
		got  float64
		want float64
		what string
	}{
		{testutil.ToFloat64(m.collLookups.WithLabelValues("qe_identity", "miss")), 1, "qe_identity misses"},
		{testutil.ToFloat64(m.collLookups.WithLabelValues("qe_identity", "hit")), 1, "qe_identity hits"},
		{testutil.ToFloat64(m.collLookups.WithLabelValues("td_qe_identity", "error")), 1, "td_qe_identity errors"},
		{testutil.ToFloat64(m.collFetches.WithLabelValues("dir", "qe_identity", "ok")), 1, "qe_identity fetches"},
		{testutil.ToFloat64(m.collFetches.WithLabelValues("dir", "td_qe_identity", "not_found")), 1, "td_qe_identity not found"},
		{testutil.ToFloat64(m.collNextUpdate.WithLabelValues("dir", "qe_identity")), float64(it.NextUpdate.Unix()), "qe_identity nextUpdate"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
}

type fakeAttester struct{ err error }

func (f fakeAttester) Supports(evidence.Type) bool { return true }
func (f fakeAttester) Attest(context.Context, attestation.Request) (string, error) {
	return "tok", f.err
}
func (f fakeAttester) Exchange(context.Context, evidence.Type, []byte) ([]byte, error) {
	return nil, f.err
}

// TestAttestationCounter: results are "ok" or the MAA code; the label set
// stays bounded whatever the error says.
func TestAttestationCounter(t *testing.T) {
	m := New()
	ctx := context.Background()
	m.Attester(fakeAttester{}).Attest(ctx, attestation.Request{Type: evidence.SgxEnclave})
	m.Attester(fakeAttester{err: maaerr.New(maaerr.InvalidQuote, "bad quote %d", 42)}).Attest(ctx, attestation.Request{Type: evidence.SgxEnclave})
	m.Attester(fakeAttester{err: errors.New("anything at all")}).Attest(ctx, attestation.Request{Type: evidence.OpenEnclave})
	m.Attester(fakeAttester{}).Exchange(ctx, evidence.Tpm, nil)
	for labels, want := range map[[2]string]float64{
		{"SgxEnclave", "ok"}: 1, {"SgxEnclave", string(maaerr.InvalidQuote)}: 1, {"OpenEnclave", string(maaerr.Internal)}: 1, {"Tpm", "ok"}: 1,
	} {
		if got := testutil.ToFloat64(m.attestations.WithLabelValues(labels[0], labels[1])); got != want {
			t.Errorf("%v: %v, want %v", labels, got, want)
		}
	}
	if n := testutil.CollectAndCount(m.attestations); n != 4 {
		t.Errorf("%d series, want 4", n)
	}
}

// TestExposition: the registry serves the Prometheus text format with the
// maat_ families and Go runtime metrics; every maat_ name follows the
// conventions checked by the linter of client_golang.
func TestExposition(t *testing.T) {
	m := New()
	m.RegisterState(State{Generation: func() int64 { return 7 }})
	_, end := m.Start(context.Background(), observe.Verify)
	end(nil)
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body := w.Body.String()
	for _, want := range []string{`maat_attestation_stage_duration_seconds_count{stage="verify"} 1`, `maat_http_requests_total{code="418"} 1`,
		"maat_instance_generation 7", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	problems, err := testutil.GatherAndLint(m.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "maat_") {
			t.Errorf("lint %s: %s", p.Metric, p.Text)
		}
	}
}

// BenchmarkObservationPerAttestation is what the metrics add to one
// attestation: the HTTP middleware, the attestation counter and timer, five
// stage observations and four collateral cache lookups (an SGX quote's
// TCB Info, QE identity, PCK CRL and root CA CRL), around work that does
// nothing. Compare with an attestation's ns/op (docs/PERFORMANCE.md).
func BenchmarkObservationPerAttestation(b *testing.B) {
	m := New()
	hit := cacheLookups{src: nopSource{}, m: m}
	att := m.Attester(fakeAttester{})
	ctx := context.Background()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, s := range []observe.Stage{observe.Decode, observe.Verify, observe.Policy, observe.Sign, observe.Collateral} {
			_, end := m.Start(ctx, s)
			end(nil)
		}
		for range 4 {
			hit.Fetch(ctx, collateral.Key{Kind: collateral.KindPCKCRL, CA: collateral.CAProcessor})
		}
		att.Attest(ctx, attestation.Request{Type: evidence.SgxEnclave})
		w.WriteHeader(http.StatusOK)
	}))
	req := httptest.NewRequest("POST", "/attest/SgxEnclave", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

type nopSource struct{}

func (nopSource) Fetch(context.Context, collateral.Key) (*collateral.Item, error) { return nil, nil }
