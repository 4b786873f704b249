//go:build simulator

package tpm_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"

	"github.com/maat-attest/maat/internal/evidence/tpm"
	"github.com/maat-attest/maat/internal/evidence/tpm/tpmclient"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/maaerr"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func testKey() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i + 1)
	}
	return k
}

func newTestService(t testing.TB, f *fixture, mutate ...func(*tpm.Options)) (*tpm.Service, *clock) {
	t.Helper()
	c := &clock{t: fixtureNow}
	roots := x509.NewCertPool()
	roots.AddCert(f.caCert)
	o := tpm.DefaultOptions()
	o.ServiceContextKey = testKey()
	o.AIKRoots = roots
	o.Now = c.now
	for _, m := range mutate {
		m(&o)
	}
	s, err := tpm.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// reqOpts are per-field overrides of the request a well-behaved client builds.
type reqOpts struct {
	ecc         bool            // use the ECC AIK
	pss         bool            // use the RSAPSS AIK
	binding     string          // BindingTPMQuote (default), BindingNone
	pcrs        []int           // quoted PCRs; default all 24
	aikCert     []byte          // default: the fixture CA's certificate for the AIK
	noAIKCert   bool            //
	signer      *rsa.PrivateKey // JWS signer; default the request key
	quoteExtra  []byte          // override the quote's qualifying data
	mutateAtt   func(*tpm.Attestation)
	mutateData  func(*tpm.AttData)
	mutateBytes func([]byte) []byte // the JWS payload bytes
	residentKey bool                // request key = the TPM-resident key, tpm_certify binding, JWS signed by the TPM
}

type builtRequest struct {
	jws       string
	challenge []byte
	svcCtx    string
}

// build runs Init→Challenge against svc and builds a signed v2 request.
func (f *fixture) build(t testing.TB, svc *tpm.Service, ro reqOpts) builtRequest {
	t.Helper()
	msg, err := tpm.DecodeMessage([]byte(`{"payload":{"type":"aikcert"},"metadata":{"os_ver":"test"}}`))
	if err != nil || msg.Kind != tpm.KindInit {
		t.Fatalf("DecodeMessage(init) = %v, %v", msg, err)
	}
	_, _, chMsg, err := svc.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	var ch struct {
		Payload struct {
			Challenge      string `json:"challenge"`
			ServiceContext string `json:"service_context"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(chMsg, &ch); err != nil {
		t.Fatal(err)
	}
	challenge, err := base64.RawURLEncoding.DecodeString(ch.Payload.Challenge)
	if err != nil {
		t.Fatal(err)
	}
	aik, cert := f.rsaAIK, f.aikCert
	if ro.ecc {
		aik, cert = f.eccAIK, f.eccCert
	}
	if ro.pss {
		aik, cert = f.pssAIK, issueCert(f.caKey, f.caCert, f.pssAIK.pub)
	}
	if ro.aikCert != nil {
		cert = ro.aikCert
	}
	jwkBytes := mustMarshal(jose.PublicJWK(f.reqKey.Public()))
	rk := &tpm.KeyObject{JWK: jwkBytes}
	extra := challenge
	if ro.residentKey {
		rk = &tpm.KeyObject{JWK: mustMarshal(jose.PublicJWK(f.certKey.pub)), Info: &tpm.KeyInfo{TPMCertify: f.certify(t, aik, f.certKey, challenge)}}
	} else if ro.binding == "" || ro.binding == tpm.BindingTPMQuote {
		rk.Info = &tpm.KeyInfo{TPMQuote: &tpm.TPMQuoteBinding{HashAlg: "sha-256"}}
		h := sha256.New()
		h.Write(jwkBytes)
		h.Write([]byte{0})
		h.Write(challenge)
		extra = h.Sum(nil)
	}
	if ro.quoteExtra != nil {
		extra = ro.quoteExtra
	}
	pcrs := ro.pcrs
	if pcrs == nil {
		pcrs = allPCRs()
	}
	att := f.quote(t, aik, extra, pcrs)
	if !ro.noAIKCert {
		att.AIKCert = b64(cert)
	}
	if ro.mutateAtt != nil {
		ro.mutateAtt(att)
	}
	ad := &tpm.AttData{
		RPID:           "https://relying-party.example",
		RPData:         b64([]byte("rp-nonce")),
		Challenge:      ch.Payload.Challenge,
		TPMAttData:     &tpm.TPMAttData{CurrentAttestation: att},
		RequestKey:     rk,
		ServiceContext: ch.Payload.ServiceContext,
	}
	if ro.mutateData != nil {
		ro.mutateData(ad)
	}
	payload := mustMarshal(tpm.RequestPayload{AttType: "basic", AttData: ad})
	if ro.mutateBytes != nil {
		payload = ro.mutateBytes(payload)
	}
	signer := f.reqKey
	if ro.signer != nil {
		signer = ro.signer
	}
	var jws string
	if ro.residentKey {
		jws = f.signJWSInTPM(t, payload)
	} else if jws, err = tpmclient.SignRequest(payload, signer); err != nil {
		t.Fatal(err)
	}
	// The HTTP layer sees {"payload":{"request": JWS}}.
	m, err := tpm.DecodeMessage(mustMarshal(map[string]any{"payload": map[string]string{"request": jws}}))
	if err != nil || m.Kind != tpm.KindRequest || m.Request != jws {
		t.Fatalf("DecodeMessage(request) = %+v, %v", m, err)
	}
	return builtRequest{jws: jws, challenge: challenge, svcCtx: ch.Payload.ServiceContext}
}

func TestEndToEndRSA(t *testing.T) {
	f := getFixture(t)
	svc, _ := newTestService(t, f)
	req := f.build(t, svc, reqOpts{})
	res, err := svc.Verify(context.Background(), req.jws, tpm.VerifyOptions{RequireValidAIKCert: true, RequiredPCRMask: 0x0000_10FF})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	wantBool := map[string]bool{
		"aikValidated": true, "secureBootEnabled": true, "bootDebuggingDisabled": true,
		"notSafeMode": true, "notWinPE": true, "iommuEnabled": true, "vbsEnabled": true,
	}
	for k, want := range wantBool {
		if got, ok := res.Claims[k].(bool); !ok || got != want {
			t.Errorf("claim %s = %v, want %v", k, res.Claims[k], want)
		}
	}
	if res.Claims["tpmVersion"] != int64(2) {
		t.Errorf("tpmVersion = %v", res.Claims["tpmVersion"])
	}
	der, _ := x509.MarshalPKIXPublicKey(f.rsaAIK.pub)
	sum := sha256.Sum256(der)
	if res.Claims["aikPubHash"] != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Errorf("aikPubHash = %v", res.Claims["aikPubHash"])
	}
	if res.RequestKey.Binding != tpm.BindingTPMQuote || res.RequestKeyJWK["kty"] != "RSA" || res.RequestKeyJWK["n"] != jose.PublicJWK(f.reqKey.Public())["n"] {
		t.Errorf("request key = %+v / %v", res.RequestKey.Binding, res.RequestKeyJWK)
	}
	if string(res.RPData) != "rp-nonce" || res.RPID != "https://relying-party.example" {
		t.Errorf("rp = %q %q", res.RPData, res.RPID)
	}
	if len(res.Events) != f.nEvents {
		t.Errorf("%d events, want %d (all on quoted PCRs)", len(res.Events), f.nEvents)
	}
	var pcrs struct{ PCRs []tpm.PCR }
	if err := json.Unmarshal([]byte(res.Claims["pcrs"].(string)), &pcrs); err != nil || len(pcrs.PCRs) != 24 {
		t.Fatalf("pcrs claim: %v, %d entries", err, len(pcrs.PCRs))
	}
	for _, p := range pcrs.PCRs {
		if len(p.Digests["SHA1"]) != 40 || len(p.Digests["SHA256"]) != 64 {
			t.Errorf("PCR %d digests = %v", p.Index, p.Digests)
		}
	}
	ev := res.Claims["events"].(string)
	for _, want := range []string{`"EventTypeString":"EV_EFI_VARIABLE_DRIVER_CONFIG"`, `"VariableGuid":"8BE4DF61-93CA-11D2-AA0D-00E098032B8C"`,
		`"UnicodeName":"SecureBoot"`, `"VariableData":"AQ"`, `"EVENT_TRUSTBOUNDARY"`, `"EVENT_BOOTDEBUGGING":false`,
		`"EVENT_FILEPATH":"\\windows\\system32\\drivers\\wd\\wdboot.sys"`, `"EventTypeString":"EV_SEPARATOR"`} {
		if !strings.Contains(ev, want) {
			t.Errorf("events claim lacks %s", want)
		}
	}
	if !strings.Contains(res.Claims["x-ms-tpm-request-key"].(string), `"tpm_quote":{"hash_alg":"sha-256"}`) {
		t.Errorf("x-ms-tpm-request-key = %s", res.Claims["x-ms-tpm-request-key"])
	}

	// The same request again: the context is used.
	if _, err := svc.Verify(context.Background(), req.jws, tpm.VerifyOptions{}); !isCode(err, maaerr.InvalidParameter) || !strings.Contains(err.Error(), "already used") {
		t.Errorf("replay: %v", err)
	}
}

func TestEndToEndECCWithCertifyBootAndCustomClaims(t *testing.T) {
	f := getFixture(t)
	svc, _ := newTestService(t, f)
	var certify *tpm.TPMCertifyBinding
	req := f.build(t, svc, reqOpts{ecc: true, binding: tpm.BindingNone, mutateData: func(ad *tpm.AttData) {
		ch, _ := tpm.DecodeB64(ad.Challenge)
		certify = f.certify(t, f.eccAIK, f.certKey, ch)
		ad.OtherKeys = []tpm.KeyObject{{JWK: mustMarshal(jose.PublicJWK(f.certKey.pub)), Info: &tpm.KeyInfo{TPMCertify: certify}}}
		ad.CustomClaims = []tpm.CustomClaim{{Name: "os", Value: "linux", ValueType: "String"}, {Name: "build", Value: "42", ValueType: "Integer"}}
		boot := f.quote(t, f.eccAIK, []byte("saved before hibernation"), []int{0, 7})
		ad.TPMAttData.BootAttestation = boot
	}})
	res, err := svc.Verify(context.Background(), req.jws, tpm.VerifyOptions{RequireValidAIKCert: true, CustomClaimPrefix: "https://x.example/"})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !res.AIKValidated || res.RequestKey.Binding != tpm.BindingNone {
		t.Errorf("aikValidated=%v binding=%s", res.AIKValidated, res.RequestKey.Binding)
	}
	if len(res.OtherKeys) != 1 || res.OtherKeys[0].Binding != tpm.BindingTPMCertify {
		t.Fatalf("other keys = %+v", res.OtherKeys)
	}
	ok := res.Claims["x-ms-tpm-other-keys"].(string)
	if !strings.Contains(ok, `"name_alg":11`) || !strings.Contains(ok, `"obj_attr":`) {
		t.Errorf("x-ms-tpm-other-keys = %s", ok)
	}
	if res.CustomClaims["https://x.example/os"] != "linux" || res.CustomClaims["https://x.example/build"] != int64(42) {
		t.Errorf("custom claims = %v", res.CustomClaims)
	}
	if _, has := res.Claims["bootEvents"]; !has || res.BootEvents == nil {
		t.Errorf("no bootEvents claim")
	}
}

func TestNoWindowsEventsNoGuessedClaims(t *testing.T) {
	f := getFixture(t)
	svc, _ := newTestService(t, f)
	// Quote only PCRs 0-7: the trust boundary on PCR 12 is not verified, so
	// the Windows claims are absent, and secureBootEnabled (PCR 7) stays.
	req := f.build(t, svc, reqOpts{pcrs: []int{0, 1, 2, 3, 4, 5, 6, 7}})
	res, err := svc.Verify(context.Background(), req.jws, tpm.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"bootDebuggingDisabled", "notSafeMode", "notWinPE", "iommuEnabled", "vbsEnabled"} {
		if v, has := res.Claims[k]; has {
			t.Errorf("claim %s = %v, want absent", k, v)
		}
	}
	if res.Claims["secureBootEnabled"] != true {
		t.Errorf("secureBootEnabled = %v", res.Claims["secureBootEnabled"])
	}
	// No logs at all: no events, no derived claims.
	req = f.build(t, svc, reqOpts{mutateAtt: func(a *tpm.Attestation) { a.Logs = nil }})
	res, err = svc.Verify(context.Background(), req.jws, tpm.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, has := res.Claims["secureBootEnabled"]; has || res.Claims["events"] != `{"Events":[]}` {
		t.Errorf("claims without log: %v / %v", res.Claims["secureBootEnabled"], res.Claims["events"])
	}
}

func isCode(err error, c maaerr.Code) bool {
	var e *maaerr.Error
	return errors.As(err, &e) && e.Code == c
}

func TestNegative(t *testing.T) {
	f := getFixture(t)
	otherCAKey, otherCA := newCA("untrusted CA")
	untrustedCert := issueCert(otherCAKey, otherCA, f.rsaAIK.pub)
	otherSigner, _ := rsa.GenerateKey(rand.Reader, 2048)

	tests := []struct {
		name string
		ro   reqOpts
		vo   tpm.VerifyOptions
		// before runs after the request is built (e.g. to move the clock).
		before  func(*clock)
		code    maaerr.Code
		message string
	}{
		{name: "wrong challenge in att_data", ro: reqOpts{mutateData: func(ad *tpm.AttData) { ad.Challenge = b64(make([]byte, 16)) }},
			code: maaerr.InvalidParameter, message: "challenge does not match"},
		{name: "quote over another challenge", ro: reqOpts{binding: tpm.BindingNone, quoteExtra: []byte("0123456789abcdef")},
			code: maaerr.InvalidQuote, message: "qualifying data"},
		{name: "tpm_quote binding of another key", ro: reqOpts{mutateData: func(ad *tpm.AttData) {
			ad.RequestKey.JWK = mustMarshal(jose.PublicJWK(otherSigner.Public()))
		}, signer: otherSigner}, code: maaerr.InvalidQuote, message: "qualifying data"},
		{name: "expired service context", before: func(c *clock) { c.t = c.t.Add(tpm.DefaultChallengeTTL + time.Second) },
			code: maaerr.InvalidParameter, message: "expired"},
		{name: "forged service context", ro: reqOpts{mutateData: func(ad *tpm.AttData) {
			raw, _ := tpm.DecodeB64(ad.ServiceContext)
			var sc tpm.SealedContext
			_ = json.Unmarshal(raw, &sc)
			ct, _ := tpm.DecodeB64(sc.ProtectedContext)
			ct[len(ct)-1] ^= 1
			sc.ProtectedContext = b64(ct)
			ad.ServiceContext = b64(mustMarshal(sc))
		}}, code: maaerr.InvalidParameter, message: "invalid service_context"},
		{name: "PCR value not matching the quote", ro: reqOpts{mutateAtt: func(a *tpm.Attestation) {
			a.PCRs[1].Values[3].Digest = b64(make([]byte, 32))
		}}, code: maaerr.InvalidQuote, message: "PCR digest"},
		{name: "PCR reported but not quoted", ro: reqOpts{mutateAtt: func(a *tpm.Attestation) {
			a.PCRs[0].Values = a.PCRs[0].Values[:23]
		}}, code: maaerr.InvalidQuote, message: "selection"},
		{name: "log does not replay", ro: reqOpts{mutateAtt: func(a *tpm.Attestation) {
			l := tpmclient.SimulatedBootLog(100)
			l.Events[4].Data = mustUEFIVar(tpm.EFIGlobalVariableGUID, "SecureBoot", []byte{0})
			l.Events[4].Measured = l.Events[4].Data
			a.Logs[0].Log = b64(l.Bytes())
		}}, code: maaerr.InvalidQuote, message: "does not verify"},
		{name: "event data swapped, digests kept", ro: reqOpts{mutateAtt: func(a *tpm.Attestation) {
			l := tpmclient.SimulatedBootLog(100)
			l.Events[4].Data = mustUEFIVar(tpm.EFIGlobalVariableGUID, "SecureBoot", []byte{0}) // measured stays SecureBoot=1
			a.Logs[0].Log = b64(l.Bytes())
		}}, code: maaerr.InvalidQuote, message: "does not verify"},
		{name: "AIK not chaining, required", ro: reqOpts{aikCert: untrustedCert}, vo: tpm.VerifyOptions{RequireValidAIKCert: true},
			code: maaerr.InvalidQuote, message: "does not chain"},
		{name: "no AIK cert, required", ro: reqOpts{noAIKCert: true}, vo: tpm.VerifyOptions{RequireValidAIKCert: true},
			code: maaerr.InvalidQuote, message: "does not chain"},
		{name: "AIK cert of another key", ro: reqOpts{aikCert: f.eccCert}, code: maaerr.InvalidQuote, message: "other than aik_pub"},
		{name: "quote signed by another AIK", ro: reqOpts{mutateAtt: func(a *tpm.Attestation) { a.AIKPub = mustMarshal(jose.PublicJWK(otherSigner.Public())); a.AIKCert = "" }},
			code: maaerr.InvalidQuote, message: "not signed by the AIK"},
		{name: "PCR missing from required_pcr_mask", ro: reqOpts{pcrs: []int{0, 1, 2, 3, 4, 5, 6, 7}}, vo: tpm.VerifyOptions{RequiredPCRMask: 1<<7 | 1<<12},
			code: maaerr.InvalidQuote, message: "[12]"},
		{name: "JWS signed by another key", ro: reqOpts{signer: otherSigner}, code: maaerr.InvalidParameter, message: "not signed by its request_key"},
		{name: "vbs att_type", ro: reqOpts{mutateBytes: func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"att_type":"basic"`, `"att_type":"vbs"`, 1))
		}}, code: maaerr.InvalidOperation, message: "not supported"},
		{name: "v1 fields", ro: reqOpts{mutateData: func(ad *tpm.AttData) { ad.AttestKey = ad.RequestKey.JWK }},
			code: maaerr.InvalidOperation, message: "v1"},
		{name: "IMA log", ro: reqOpts{mutateAtt: func(a *tpm.Attestation) { a.Logs[0].Type = "IMA" }}, code: maaerr.InvalidOperation, message: "IMA"},
		{name: "truncated quote", ro: reqOpts{mutateAtt: func(a *tpm.Attestation) {
			q, _ := tpm.DecodeB64(a.Quote)
			a.Quote = b64(q[:len(q)-3])
		}}, code: maaerr.InvalidQuote, message: "malformed quote"},
		{name: "garbage signature", ro: reqOpts{mutateAtt: func(a *tpm.Attestation) { a.Signature = b64([]byte("garbage!")) }},
			code: maaerr.InvalidQuote, message: "malformed signature"},
		{name: "truncated log", ro: reqOpts{mutateAtt: func(a *tpm.Attestation) {
			l, _ := tpm.DecodeB64(a.Logs[0].Log)
			a.Logs[0].Log = b64(l[:len(l)-10])
		}}, code: maaerr.InvalidQuote, message: "TCG log"},
		{name: "bad custom claim", ro: reqOpts{mutateData: func(ad *tpm.AttData) {
			ad.CustomClaims = []tpm.CustomClaim{{Name: "n", Value: "x", ValueType: "Integer"}}
		}}, code: maaerr.InvalidParameter, message: "not an integer"},
		{name: "three other keys", ro: reqOpts{mutateData: func(ad *tpm.AttData) {
			k := tpm.KeyObject{JWK: ad.RequestKey.JWK}
			ad.OtherKeys = []tpm.KeyObject{k, k, k}
		}}, code: maaerr.InvalidParameter, message: "at most 2"},
		{name: "tpm_certify over another challenge", ro: reqOpts{mutateData: func(ad *tpm.AttData) {
			ad.OtherKeys = []tpm.KeyObject{{JWK: mustMarshal(jose.PublicJWK(f.certKey.pub)), Info: &tpm.KeyInfo{TPMCertify: f.certify(t, f.rsaAIK, f.certKey, []byte("stale"))}}}
		}}, code: maaerr.InvalidQuote, message: "not bound to the challenge"},
		{name: "tpm_certify of another key", ro: reqOpts{mutateData: func(ad *tpm.AttData) {
			ch, _ := tpm.DecodeB64(ad.Challenge)
			ad.OtherKeys = []tpm.KeyObject{{JWK: ad.RequestKey.JWK, Info: &tpm.KeyInfo{TPMCertify: f.certify(t, f.rsaAIK, f.certKey, ch)}}}
		}}, code: maaerr.InvalidQuote, message: "not the key in jwk"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc, clk := newTestService(t, f)
			req := f.build(t, svc, tc.ro)
			if tc.before != nil {
				tc.before(clk)
			}
			_, err := svc.Verify(context.Background(), req.jws, tc.vo)
			if !isCode(err, tc.code) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("Verify error = %v; want code %s containing %q", err, tc.code, tc.message)
			}
		})
	}
}

func TestAIKNotChainingIsOnlyAClaimWhenNotRequired(t *testing.T) {
	f := getFixture(t)
	k, ca := newCA("untrusted")
	svc, _ := newTestService(t, f)
	req := f.build(t, svc, reqOpts{aikCert: issueCert(k, ca, f.rsaAIK.pub)})
	res, err := svc.Verify(context.Background(), req.jws, tpm.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Claims["aikValidated"] != false {
		t.Errorf("aikValidated = %v", res.Claims["aikValidated"])
	}
	// An expired AIK certificate does not validate either.
	svc, clk := newTestService(t, f, func(o *tpm.Options) { o.ChallengeTTL = 365 * 24 * time.Hour })
	req = f.build(t, svc, reqOpts{})
	clk.t = clk.t.Add(60 * 24 * time.Hour)
	if res, err = svc.Verify(context.Background(), req.jws, tpm.VerifyOptions{}); err != nil || res.AIKValidated {
		t.Errorf("expired AIK cert: %v, validated=%v", err, res != nil && res.AIKValidated)
	}
}

func TestServiceContextAcrossReplicasAndRotation(t *testing.T) {
	f := getFixture(t)
	a, _ := newTestService(t, f)
	req := f.build(t, a, reqOpts{})
	// Another replica with the same key takes the request.
	b, _ := newTestService(t, f)
	if _, err := b.Verify(context.Background(), req.jws, tpm.VerifyOptions{}); err != nil {
		t.Fatalf("replica: %v", err)
	}
	// After rotation the old key still opens contexts it sealed.
	req = f.build(t, a, reqOpts{})
	newKey := make([]byte, 32)
	c, _ := newTestService(t, f, func(o *tpm.Options) { o.ServiceContextKey = newKey; o.PreviousServiceContextKeys = [][]byte{testKey()} })
	if _, err := c.Verify(context.Background(), req.jws, tpm.VerifyOptions{}); err != nil {
		t.Fatalf("rotation: %v", err)
	}
	// A replica without the key cannot.
	req = f.build(t, a, reqOpts{})
	d, _ := newTestService(t, f, func(o *tpm.Options) { o.ServiceContextKey = newKey })
	if _, err := d.Verify(context.Background(), req.jws, tpm.VerifyOptions{}); !isCode(err, maaerr.InvalidParameter) {
		t.Fatalf("foreign key: %v", err)
	}
}

func TestDecodeMessage(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind tpm.MessageKind
		code maaerr.Code
	}{
		{`{"payload": { "type": "aikcert" } }`, tpm.KindInit, ""}, // the recorded C++ SDK body
		{`{"payload":{"type":"aikcert"},"metadata":{"os_ver":"10.0.19041"}}`, tpm.KindInit, ""},
		{`{"payload":{"request":"a.b.c"}}`, tpm.KindRequest, ""},
		{`{"request":"a.b.c"}`, tpm.KindRequest, ""},
		{`{"payload":{"type":"ekcert"}}`, 0, maaerr.InvalidParameter},
		{`{"payload":{}}`, 0, maaerr.InvalidParameter},
		{`[`, 0, maaerr.InvalidParameter},
		{strings.Repeat("[", 100) + strings.Repeat("]", 100), 0, maaerr.InvalidParameter},
	} {
		m, err := tpm.DecodeMessage([]byte(tc.in))
		if tc.code != "" {
			if !isCode(err, tc.code) {
				t.Errorf("%s: err = %v, want %s", tc.in, err, tc.code)
			}
			continue
		}
		if err != nil || m.Kind != tc.kind {
			t.Errorf("%s: %+v, %v", tc.in, m, err)
		}
	}
}

func TestRecordedChallengeShape(t *testing.T) {
	// Our Challenge message has the recorded MAA shape: 16-byte challenge,
	// service_context = base64url JSON {ProtectionKeyName, ProtectedContext}.
	raw, err := readTestdata("maa_challenge_response.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec, ours struct {
		Payload struct {
			Challenge      string `json:"challenge"`
			ServiceContext string `json:"service_context"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	f := getFixture(t)
	svc, _ := newTestService(t, f)
	_, _, msg, _ := svc.Challenge()
	if err := json.Unmarshal(msg, &ours); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ name, challenge, ctx string }{{"recorded", rec.Payload.Challenge, rec.Payload.ServiceContext}, {"ours", ours.Payload.Challenge, ours.Payload.ServiceContext}} {
		c, err := base64.RawURLEncoding.DecodeString(p.challenge)
		if err != nil || len(c) != tpm.ChallengeSize {
			t.Errorf("%s challenge: %d bytes, %v", p.name, len(c), err)
		}
		sc, err := base64.RawURLEncoding.DecodeString(p.ctx)
		var outer map[string]string
		if err != nil || json.Unmarshal(sc, &outer) != nil || outer["ProtectionKeyName"] == "" || outer["ProtectedContext"] == "" {
			t.Errorf("%s service_context: %s", p.name, sc)
		}
	}
	// The recorded context is not ours: it fails closed.
	if err := svc.OpenContext(rec.Payload.ServiceContext, fixtureNow); !isCode(err, maaerr.InvalidParameter) {
		t.Errorf("recorded context opened: %v", err)
	}
}

func TestRequestKeyResidentInTPM(t *testing.T) {
	f := getFixture(t)
	svc, _ := newTestService(t, f)
	req := f.build(t, svc, reqOpts{residentKey: true})
	res, err := svc.Verify(context.Background(), req.jws, tpm.VerifyOptions{RequireValidAIKCert: true})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if res.RequestKey.Binding != tpm.BindingTPMCertify || !tpm.SamePublicKey(res.RequestKey.Public, f.certKey.pub) {
		t.Errorf("request key binding = %s", res.RequestKey.Binding)
	}
	// The key-attestation sample's check: obj_attr of the certified key.
	rk := res.Claims["x-ms-tpm-request-key"].(string)
	var obj struct {
		Info struct {
			TPMCertify struct {
				NameAlg int    `json:"name_alg"`
				ObjAttr uint32 `json:"obj_attr"`
			} `json:"tpm_certify"`
		} `json:"info"`
	}
	if err := json.Unmarshal([]byte(rk), &obj); err != nil {
		t.Fatal(err)
	}
	// fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|noDA|sign = 0x40472
	if obj.Info.TPMCertify.NameAlg != 11 || obj.Info.TPMCertify.ObjAttr != 0x00040472 {
		t.Errorf("tpm_certify policy object = %+v (%s)", obj.Info.TPMCertify, rk)
	}
}

func TestSeveralLogsInMeasurementOrder(t *testing.T) {
	f := getFixture(t)
	svc, _ := newTestService(t, f)
	evs := tpmclient.SimulatedBootLog(100).Events
	first, second := tpmclient.EncodeLog(evs[:40]), tpmclient.EncodeLog(evs[40:])
	req := f.build(t, svc, reqOpts{mutateAtt: func(a *tpm.Attestation) {
		a.Logs = []tpm.Log{{Type: "TCG", Log: b64(first)}, {Type: "TCG", Log: b64(second)}}
	}})
	res, err := svc.Verify(context.Background(), req.jws, tpm.VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(res.Events) != len(evs) || res.Events[len(res.Events)-1].EventSeq != len(evs) {
		t.Errorf("%d events, last seq %d", len(res.Events), res.Events[len(res.Events)-1].EventSeq)
	}
	// In the wrong order they do not replay.
	req = f.build(t, svc, reqOpts{mutateAtt: func(a *tpm.Attestation) {
		a.Logs = []tpm.Log{{Type: "TCG", Log: b64(second)}, {Type: "TCG", Log: b64(first)}}
	}})
	if _, err := svc.Verify(context.Background(), req.jws, tpm.VerifyOptions{}); !isCode(err, maaerr.InvalidQuote) {
		t.Errorf("reversed logs: %v", err)
	}
}

// TestClientBuildRequest drives the exchange with the exported client helper,
// as the CLI does: Init → Challenge → BuildRequest → Verify.
func TestClientBuildRequest(t *testing.T) {
	f := getFixture(t)
	svc, _ := newTestService(t, f)
	if m, err := tpm.DecodeMessage(tpmclient.InitMessage()); err != nil || m.Kind != tpm.KindInit {
		t.Fatalf("init: %v", err)
	}
	_, _, ch, err := svc.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	msg, err := tpmclient.BuildRequest(tpmclient.Input{
		TPM:          f.tpm,
		AIK:          tpm2.AuthHandle{Handle: f.eccAIK.handle, Name: f.eccAIK.name, Auth: tpm2.PasswordAuth(nil)},
		AIKPublic:    f.eccAIK.pub,
		AIKCert:      f.eccCert,
		Logs:         [][]byte{f.log},
		RequestKey:   f.reqKey,
		RPData:       []byte("nonce"),
		CustomClaims: []tpm.CustomClaim{{Name: "ok", Value: "true", ValueType: "Boolean"}},
	}, ch)
	f.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	m, err := tpm.DecodeMessage(msg)
	if err != nil || m.Kind != tpm.KindRequest {
		t.Fatalf("request: %v", err)
	}
	res, err := svc.Verify(context.Background(), m.Request, tpm.VerifyOptions{RequireValidAIKCert: true, RequiredPCRMask: 0xFFFFFF})
	if err != nil {
		t.Fatal(err)
	}
	if res.Claims["secureBootEnabled"] != true || string(res.RPData) != "nonce" || res.CustomClaims[tpm.DefaultCustomClaimPrefix+"ok"] != true {
		t.Errorf("claims = %v, rp_data %q, custom %v", res.Claims["secureBootEnabled"], res.RPData, res.CustomClaims)
	}
}

func TestRSAPSSAIK(t *testing.T) {
	f := getFixture(t)
	pss := tpmclient.RSAAIKTemplate()
	pss.Parameters = tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, &tpm2.TPMSRSAParms{
		Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
		Scheme: tpm2.TPMTRSAScheme{Scheme: tpm2.TPMAlgRSAPSS,
			Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgRSAPSS, &tpm2.TPMSSigSchemeRSAPSS{HashAlg: tpm2.TPMAlgSHA256})},
		KeyBits: 2048,
	})
	f.mu.Lock()
	// Free a slot: the certify key is re-created by nobody else meanwhile
	// because tests are sequential; it is restored at the end.
	if _, err := (tpm2.FlushContext{FlushHandle: f.certKey.handle}).Execute(f.tpm); err != nil {
		f.mu.Unlock()
		t.Fatal(err)
	}
	var err error
	f.pssAIK, err = createPrimary(f.tpm, pss)
	f.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		_, _ = (tpm2.FlushContext{FlushHandle: f.pssAIK.handle}).Execute(f.tpm)
		if f.certKey, err = createPrimary(f.tpm, certKeyTemplate()); err != nil {
			t.Fatal(err)
		}
	}()
	svc, _ := newTestService(t, f)
	req := f.build(t, svc, reqOpts{pss: true})
	res, err := svc.Verify(context.Background(), req.jws, tpm.VerifyOptions{RequireValidAIKCert: true})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if res.Claims["secureBootEnabled"] != true || !res.AIKValidated {
		t.Errorf("claims = %v", res.Claims["secureBootEnabled"])
	}
}

// The GUID of a UEFI variable event prints as the UEFI specification writes
// it (three little-endian fields, then eight bytes in order, upper case),
// exactly as fmt's %08X-%04X-%04X-%X-%X of those fields does.
func TestFormatGUID(t *testing.T) {
	// EFI_GLOBAL_VARIABLE as it lies in an event.
	g := []byte{0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c}
	if got := tpm.FormatGUID(g); got != "8BE4DF61-93CA-11D2-AA0D-00E098032B8C" {
		t.Fatalf("EFI_GLOBAL_VARIABLE = %s", got)
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	for range 1000 {
		for i := range g {
			g[i] = byte(r.Uint32())
		}
		want := fmt.Sprintf("%08X-%04X-%04X-%X-%X", binary.LittleEndian.Uint32(g[0:4]), binary.LittleEndian.Uint16(g[4:6]),
			binary.LittleEndian.Uint16(g[6:8]), g[8:10], g[10:16])
		if got := tpm.FormatGUID(g); got != want {
			t.Fatalf("% x: %s, want %s", g, got, want)
		}
	}
}
