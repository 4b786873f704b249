package attestation

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/policy"
	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/internal/store/sqlite"
	"github.com/maat-attest/maat/internal/token"
)

// fakeVerifier returns a fixed Verified for evidence "good", and err
// otherwise; it records the configuration it was given.
type fakeVerifier struct {
	ver    evidence.Verified
	err    error
	gotCfg evidence.Config
}

func (f *fakeVerifier) Verify(_ context.Context, raw []byte, cfg evidence.Config) (*evidence.Verified, error) {
	f.gotCfg = cfg
	if string(raw) != "good" {
		if f.err != nil {
			return nil, f.err
		}
		return nil, maaerr.New(maaerr.InvalidQuote, "bad evidence")
	}
	v := f.ver
	return &v, nil
}

// recordingIssuer keeps the claims and options of the last token.
type recordingIssuer struct {
	claims map[string]any
	opts   token.Options
}

func (r *recordingIssuer) Issue(claims map[string]any, opts token.Options) (string, error) {
	r.claims, r.opts = claims, opts
	return "token", nil
}

var (
	runtimeBytes = []byte("runtime data")
	initBytes    = []byte(`{"k":"v"}`)
)

func sum(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

func newPipeline(t *testing.T, f *fakeVerifier) (*Pipeline, *recordingIssuer, store.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateInstance(ctx, store.Instance{ID: "i", Issuer: "https://x", Mode: store.ModeAAD}); err != nil {
		t.Fatal(err)
	}
	iss := &recordingIssuer{}
	p := &Pipeline{
		Verifiers: map[evidence.Type]evidence.Verifier{evidence.SgxEnclave: f, evidence.Tpm: f},
		Policies:  NewPolicies(st, "i"),
		Tokens:    iss,
	}
	return p, iss, st
}

func baseVerified() evidence.Verified {
	return evidence.Verified{
		AttestationType:     "fake",
		Claims:              map[string]any{"x-fake-id": "abc", "x-fake-n": 7},
		RuntimeData:         &evidence.Binding{Field: "report_data[0:32]", Value: sum(runtimeBytes)},
		InitTimeData:        &evidence.Binding{Field: "config_id[0:32]", Value: sum(initBytes)},
		BinaryRuntimeClaims: []string{"x-fake-ehd"},
		TokenClaims:         map[string]any{"x-token-only": "secret"},
	}
}

const permitAll = `version=1.0; authorizationrules{ => permit(); }; issuancerules{ c:[type=="x-fake-id"] => issue(type="id", value=c.value); c:[type=="x-token-only"] => issue(type="leaked", value=c.value); };`

func draft(s string) *string { return &s }

func attest(t *testing.T, p *Pipeline, req Request) error {
	t.Helper()
	if req.Type == "" {
		req.Type = evidence.SgxEnclave
	}
	if req.Evidence == nil {
		req.Evidence = []byte("good")
	}
	_, err := p.Attest(context.Background(), req)
	return err
}

func wantCode(t *testing.T, err error, code maaerr.Code, msg string) {
	t.Helper()
	var e *maaerr.Error
	if !errors.As(err, &e) || e.Code != code || !strings.Contains(e.Message, msg) {
		t.Fatalf("err = %v, want %s containing %q", err, code, msg)
	}
}

func TestBindingRuntimeAndInitTimeData(t *testing.T) {
	f := &fakeVerifier{ver: baseVerified()}
	p, iss, _ := newPipeline(t, f)
	err := attest(t, p, Request{DraftPolicy: draft(permitAll),
		RuntimeData: &Data{Bytes: runtimeBytes}, InitTimeData: &Data{Bytes: initBytes, JSON: true}})
	if err != nil {
		t.Fatal(err)
	}
	if iss.claims["x-fake-ehd"] != "cnVudGltZSBkYXRh" {
		t.Fatalf("binary runtime claim %v", iss.claims["x-fake-ehd"])
	}
	if m, ok := iss.claims["x-ms-inittime"].(map[string]any); !ok || m["k"] != "v" {
		t.Fatalf("x-ms-inittime %v", iss.claims["x-ms-inittime"])
	}
	if _, ok := iss.claims["x-ms-runtime"]; ok {
		t.Fatal("binary runtime data became x-ms-runtime")
	}

	err = attest(t, p, Request{DraftPolicy: draft(permitAll), RuntimeData: &Data{Bytes: []byte("other")}})
	wantCode(t, err, maaerr.InvalidParameter, "report_data[0:32]")
	err = attest(t, p, Request{DraftPolicy: draft(permitAll), InitTimeData: &Data{Bytes: []byte("other")}})
	wantCode(t, err, maaerr.InvalidParameter, "config_id[0:32]")

	f.ver.RuntimeData = nil
	err = attest(t, p, Request{DraftPolicy: draft(permitAll), RuntimeData: &Data{Bytes: runtimeBytes}})
	wantCode(t, err, maaerr.InvalidParameter, "takes no runtime data")
}

func TestJSONRuntimeData(t *testing.T) {
	doc := []byte(`{"jwk":{"kty":"RSA","n":"x"},"n":12}` + "\x00")
	f := &fakeVerifier{ver: baseVerified()}
	f.ver.RuntimeData.Value = sum(doc)
	p, iss, _ := newPipeline(t, f)
	// The policy sees x-ms-runtime as a JSON-valued claim.
	pol := `version=1.2; authorizationrules{ c:[type=="x-ms-runtime"] => permit(); }; issuancerules{ c:[type=="x-ms-runtime"] => issue(type="n", value=JmesPath(c.value, "n")); };`
	if err := attest(t, p, Request{DraftPolicy: draft(pol), RuntimeData: &Data{Bytes: doc, JSON: true}}); err != nil {
		t.Fatal(err)
	}
	rt, ok := iss.claims["x-ms-runtime"].(map[string]any)
	if !ok || rt["jwk"] == nil {
		t.Fatalf("x-ms-runtime %v", iss.claims["x-ms-runtime"])
	}
	if _, ok := iss.claims["x-fake-ehd"]; ok {
		t.Fatal("JSON runtime data also became a binary claim")
	}
	if iss.claims["n"] == nil {
		t.Fatalf("policy did not see x-ms-runtime: %v", iss.claims)
	}
	bad := []byte(`{"a":1,"a":2}`)
	f.ver.RuntimeData.Value = sum(bad)
	err := attest(t, p, Request{DraftPolicy: draft(permitAll), RuntimeData: &Data{Bytes: bad, JSON: true}})
	wantCode(t, err, maaerr.InvalidParameter, "appears twice")
	notJSON := []byte(`{`)
	f.ver.RuntimeData.Value = sum(notJSON)
	err = attest(t, p, Request{DraftPolicy: draft(permitAll), RuntimeData: &Data{Bytes: notJSON, JSON: true}})
	wantCode(t, err, maaerr.InvalidParameter, "not a JSON document")
}

func TestDraftPolicyGivesUnsecuredToken(t *testing.T) {
	f := &fakeVerifier{ver: baseVerified()}
	p, iss, _ := newPipeline(t, f)
	if err := attest(t, p, Request{DraftPolicy: draft(permitAll)}); err != nil {
		t.Fatal(err)
	}
	if !iss.opts.Unsecured {
		t.Fatal("draft policy token is signed")
	}
	pol, _ := policy.Parse(permitAll)
	if iss.claims["x-ms-policy-hash"] != pol.Hash() {
		t.Fatalf("x-ms-policy-hash %v, want the draft's %s", iss.claims["x-ms-policy-hash"], pol.Hash())
	}
	if err := attest(t, p, Request{}); err != nil { // the default SgxEnclave policy
		t.Fatal(err)
	}
	if iss.opts.Unsecured {
		t.Fatal("instance policy token is unsecured")
	}
	err := attest(t, p, Request{DraftPolicy: draft("version=1.0; authorizationrules{")})
	wantCode(t, err, maaerr.PolicyParsingError, "")
}

func TestNonceEcho(t *testing.T) {
	f := &fakeVerifier{ver: baseVerified()}
	p, iss, _ := newPipeline(t, f)
	n := "12345-nonce"
	if err := attest(t, p, Request{DraftPolicy: draft(permitAll), Nonce: &n}); err != nil {
		t.Fatal(err)
	}
	if iss.claims["nonce"] != n {
		t.Fatalf("nonce %v", iss.claims["nonce"])
	}
	if err := attest(t, p, Request{DraftPolicy: draft(permitAll)}); err != nil {
		t.Fatal(err)
	}
	if _, ok := iss.claims["nonce"]; ok {
		t.Fatal("nonce claim without a nonce")
	}
}

func TestTokenOnlyClaimsInvisibleToPolicy(t *testing.T) {
	f := &fakeVerifier{ver: baseVerified()}
	p, iss, _ := newPipeline(t, f)
	if err := attest(t, p, Request{DraftPolicy: draft(permitAll)}); err != nil {
		t.Fatal(err)
	}
	if iss.claims["x-token-only"] != "secret" {
		t.Fatalf("token-only claim missing: %v", iss.claims)
	}
	if _, ok := iss.claims["leaked"]; ok {
		t.Fatal("the policy saw a token-only claim")
	}
	if iss.claims["id"] != "abc" || iss.claims["x-fake-id"] != "abc" || iss.claims["x-ms-attestation-type"] != "fake" {
		t.Fatalf("claims %v", iss.claims)
	}
	if pc, ok := iss.claims["x-ms-policy"].(map[string]any); !ok || pc["id"] != "abc" {
		t.Fatalf("x-ms-policy %v", iss.claims["x-ms-policy"])
	}
}

func TestIssuedOnlyAndCustomClaims(t *testing.T) {
	v := baseVerified()
	v.IssuedOnly, v.NoPolicyClaim = true, true
	v.CustomClaims = map[string]any{"custom-x": "cv"}
	v.ReadOnly = []string{"x-fake-id"}
	v.Token = evidence.TokenOptions{X5C: true}
	f := &fakeVerifier{ver: v}
	p, iss, _ := newPipeline(t, f)
	pol := `version=1.0; authorizationrules{ c:[type=="custom-x", issuer=="CustomClaim"] => permit(); }; issuancerules{ c:[type=="x-fake-n"] => issue(type="n", value=c.value); };`
	if err := attest(t, p, Request{DraftPolicy: draft(pol)}); err != nil {
		t.Fatal(err)
	}
	if _, ok := iss.claims["x-fake-id"]; ok {
		t.Fatal("IssuedOnly token carries incoming claims")
	}
	if _, ok := iss.claims["x-ms-policy"]; ok {
		t.Fatal("NoPolicyClaim token has x-ms-policy")
	}
	if _, ok := iss.claims["custom-x"]; ok {
		t.Fatal("custom claim reached the token")
	}
	if iss.claims["n"] != int64(7) || iss.claims["x-token-only"] != "secret" || !iss.opts.X5C {
		t.Fatalf("claims %v opts %+v", iss.claims, iss.opts)
	}
	// A read-only claim cannot be issued.
	ro := `version=1.0; authorizationrules{ => permit(); }; issuancerules{ c:[type=="x-fake-id"] => issue(type="id", value=c.value); };`
	err := attest(t, p, Request{DraftPolicy: draft(ro)})
	wantCode(t, err, maaerr.PolicyEvaluationError, "")
}

func TestConfigurationReachesVerifier(t *testing.T) {
	f := &fakeVerifier{ver: baseVerified()}
	p, _, _ := newPipeline(t, f)
	pol := `version=1.1; configurationrules{ => issueproperty(type="required_pcr_mask", value=7); => issueproperty(type="x-ms-sgx-tcbidentifier", value="10"); }; authorizationrules{ => permit(); };`
	if err := attest(t, p, Request{DraftPolicy: draft(pol)}); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.gotCfg.Int("required_pcr_mask"); n != 7 {
		t.Fatalf("cfg %v", f.gotCfg)
	}
	if s, _ := f.gotCfg.String("x-ms-sgx-tcbidentifier"); s != "10" {
		t.Fatalf("cfg %v", f.gotCfg)
	}
}

func TestUnknownTypeAndVerifierErrors(t *testing.T) {
	f := &fakeVerifier{ver: baseVerified(), err: maaerr.New(maaerr.InvalidQuote, "The quote signature does not verify.")}
	p, _, _ := newPipeline(t, f)
	err := attest(t, p, Request{Type: evidence.SevSnpVm})
	wantCode(t, err, maaerr.InvalidParameter, "'SevSnpVm' is not supported")
	if p.Supports(evidence.SevSnpVm) || !p.Supports(evidence.SgxEnclave) {
		t.Fatal("Supports disagrees with the table")
	}
	err = attest(t, p, Request{Evidence: []byte("bad"), DraftPolicy: draft(permitAll)})
	wantCode(t, err, maaerr.InvalidQuote, "signature does not verify")
	// Tpm has no default policy: MAA's InvalidOperation before verification.
	err = attest(t, p, Request{Type: evidence.Tpm})
	wantCode(t, err, maaerr.InvalidOperation, "has not been set")
	// A single-shot type takes no protocol messages.
	_, err = p.Exchange(context.Background(), evidence.SgxEnclave, []byte("x"))
	wantCode(t, err, maaerr.InvalidParameter, "single request")
	// A policy that does not authorize.
	err = attest(t, p, Request{DraftPolicy: draft(`version=1.0; authorizationrules{ c:[type=="nothing"] => permit(); };`)})
	wantCode(t, err, maaerr.PolicyEvaluationError, "")
}

func TestFreshRefusesWhenStale(t *testing.T) {
	f := &fakeVerifier{ver: baseVerified()}
	p, _, _ := newPipeline(t, f)
	p.Fresh = func() error { return maaerr.New(maaerr.ServiceUnavailable, "stale") }
	wantCode(t, attest(t, p, Request{DraftPolicy: draft(permitAll)}), maaerr.ServiceUnavailable, "stale")
}

// TestSHA384Binding: a binding may take SHA-384 of the data instead of
// SHA-256 (TDX's MRCONFIGID), or only SHA-384.
func TestSHA384Binding(t *testing.T) {
	data := []byte("init-time configuration")
	h384 := sha512.Sum384(data)
	v := baseVerified()
	v.InitTimeData = &evidence.Binding{Field: "MRCONFIGID", Value: sum([]byte("other")), SHA384: h384[:]}
	f := &fakeVerifier{ver: v}
	p, _, _ := newPipeline(t, f)
	if err := attest(t, p, Request{DraftPolicy: draft(permitAll), InitTimeData: &Data{Bytes: data}}); err != nil {
		t.Fatalf("SHA-384 alternative: %v", err)
	}
	f.ver.InitTimeData = &evidence.Binding{Field: "MRCONFIGID", SHA384: h384[:]}
	if err := attest(t, p, Request{DraftPolicy: draft(permitAll), InitTimeData: &Data{Bytes: data}}); err != nil {
		t.Fatalf("SHA-384 only: %v", err)
	}
	err := attest(t, p, Request{DraftPolicy: draft(permitAll), InitTimeData: &Data{Bytes: []byte("x")}})
	wantCode(t, err, maaerr.InvalidParameter, "SHA-384 of the init-time data")
}

// Runtime data the evidence carries (SevSnpVm's raw HCL report) becomes
// x-ms-runtime unless the client sends JSON runtime data, which is bound
// and used instead; binary client runtime data is bound and leaves it.
func TestEvidenceRuntimeJSON(t *testing.T) {
	bin := []byte("binary runtime data")
	js := []byte(`{"b":2}`)
	bind := func(b []byte) []byte { h := sha256.Sum256(b); return h[:] }
	ver := func(field []byte, ev string) *evidence.Verified {
		return &evidence.Verified{AttestationType: "sevsnpvm", Claims: map[string]any{}, EvidenceRuntimeJSON: []byte(ev),
			RuntimeData: &evidence.Binding{Field: "report_data[0:32]", Value: field}}
	}
	for _, tc := range []struct {
		name    string
		field   []byte
		runtime *Data
		want    string
	}{
		{"no client runtime data", bind(bin), nil, `{"a":1}`},
		{"binary client runtime data", bind(bin), &Data{Bytes: bin}, `{"a":1}`},
		{"JSON client runtime data", bind(js), &Data{Bytes: js, JSON: true}, `{"b":2}`},
	} {
		c, err := IncomingClaims(ver(tc.field, `{"a":1}`), tc.runtime, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got, _ := json.Marshal(c["x-ms-runtime"]); string(got) != tc.want {
			t.Errorf("%s: x-ms-runtime %s, want %s", tc.name, got, tc.want)
		}
	}
	_, err := IncomingClaims(ver(bind(bin), `{"a":`), nil, nil)
	if e := maaerr.As(err); err == nil || e.Code != maaerr.InvalidParameter {
		t.Fatalf("evidence runtime data that is not JSON: %v", err)
	}
}
