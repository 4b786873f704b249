package azattest

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, s string) *Token {
	t.Helper()
	tok, err := ParseToken(s)
	if err != nil {
		t.Fatalf("ParseToken: %v", err)
	}
	return tok
}

func TestValidateGood(t *testing.T) {
	s := testSigner(t, "kid1")
	for _, alg := range []string{"RS256", "PS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			signer := s
			var key any = testRSA
			if alg == "ES256" {
				key = testEC
				cert := selfSigned(t, testEC, testIss, t0.Add(-time.Hour), t0.Add(time.Hour))
				signer = Signer{KeyID: "kid1", Certificates: []*x509.Certificate{cert}, PublicKey: cert.PublicKey}
			}
			tok := mustParse(t, mint(t, map[string]any{"alg": alg, "kid": "kid1", "typ": "JWT"}, stdClaims(), key))
			got, err := tok.Validate([]Signer{signer}, opts())
			if err != nil {
				t.Fatal(err)
			}
			if got.KeyID != "kid1" {
				t.Errorf("signer %q", got.KeyID)
			}
		})
	}
}

func TestTokenParseAndSerialize(t *testing.T) {
	keys(t)
	raw := mint(t, map[string]any{"alg": "RS256", "kid": "k", "jku": "https://x/certs", "typ": "JWT", "x5t": "abc", "x5c": []string{"AAAA"}}, stdClaims(), testRSA)
	tok := mustParse(t, raw)
	if tok.String() != raw {
		t.Error("String() is not the input")
	}
	h := tok.Header()
	if h.Algorithm != "RS256" || h.KeyID != "k" || h.JWKSetURL != "https://x/certs" || h.Type != "JWT" || h.X509Thumbprint != "abc" || len(h.X509CertChain) != 1 {
		t.Errorf("header %+v", h)
	}
	c := tok.Claims()
	if c.Issuer != testIss || c.ExpiresAt == nil || !c.ExpiresAt.Equal(t0.Add(8*time.Hour)) {
		t.Errorf("claims %+v", c)
	}
	if tok.RawClaims()["x-ms-ver"] != "1.0" {
		t.Error("raw claims")
	}
	b, _ := tok.MarshalText()
	var back Token
	if err := back.UnmarshalText(b); err != nil || back.String() != raw {
		t.Error("text round trip")
	}
	if !strings.HasPrefix(raw, tok.SigningInput()+".") {
		t.Error("signing input")
	}
}

// Attacks: each must fail validation with the right sentinel.
func TestAttacks(t *testing.T) {
	trusted := []Signer{testSigner(t, "kid1")}
	hdr := func(alg string, extra ...any) map[string]any {
		m := map[string]any{"alg": alg, "kid": "kid1", "typ": "JWT"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i].(string)] = extra[i+1]
		}
		return m
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&testRSA.PublicKey)
	attackerCert := selfSigned(t, attackerRSA, testIss, t0.Add(-time.Hour), t0.Add(time.Hour))
	attackerX5C := []string{base64.StdEncoding.EncodeToString(attackerCert.Raw)}
	attackerJWK := map[string]any{"kty": "RSA", "n": b64(attackerRSA.N.Bytes()), "e": "AQAB", "x5c": attackerX5C}
	noIss := stdClaims()
	delete(noIss, "iss")
	wrongIss := stdClaims()
	wrongIss["iss"] = "https://evil.example"
	noExp := stdClaims()
	delete(noExp, "exp")

	cases := []struct {
		name  string
		token string
		o     *TokenValidationOptions
		want  error
	}{
		{"alg none", mint(t, hdr("none"), stdClaims(), nil), opts(), ErrUnsecuredToken},
		{"alg None mixed case", mint(t, hdr("none"), stdClaims(), nil)[:0] + strings.Replace(mint(t, hdr("none"), stdClaims(), nil), b64([]byte(`{"alg":"none","kid":"kid1","typ":"JWT"}`)), b64([]byte(`{"alg":"None","kid":"kid1"}`)), 1), opts(), ErrUnsecuredToken},
		{"HS256 with RSA public key as secret (PKIX DER)", mint(t, hdr("HS256"), stdClaims(), pubDER), opts(), ErrUnsupportedAlgorithm},
		{"HS256 with RSA modulus as secret", mint(t, hdr("HS256"), stdClaims(), testRSA.N.Bytes()), opts(), ErrUnsupportedAlgorithm},
		{"self-signed key in x5c", mint(t, hdr("RS256", "x5c", attackerX5C), stdClaims(), attackerRSA), opts(), ErrSignatureInvalid},
		{"self-signed key in x5c, no kid", mint(t, map[string]any{"alg": "RS256", "x5c": attackerX5C}, stdClaims(), attackerRSA), opts(), ErrSignatureInvalid},
		{"key in jwk header", mint(t, hdr("RS256", "jwk", attackerJWK), stdClaims(), attackerRSA), opts(), ErrSignatureInvalid},
		{"jku pointing elsewhere", mint(t, hdr("RS256", "jku", "https://evil.example/certs", "kid", "evil"), stdClaims(), attackerRSA), opts(), ErrSignatureInvalid},
		{"wrong issuer", mint(t, hdr("RS256"), wrongIss, testRSA), opts(), ErrIssuerMismatch},
		{"missing iss", mint(t, hdr("RS256"), noIss, testRSA), opts(), ErrIssuerMismatch},
		{"missing exp", mint(t, hdr("RS256"), noExp, testRSA), opts(), ErrTokenExpired},
		{"expired", mint(t, hdr("RS256"), stdClaims(), testRSA), &TokenValidationOptions{ExpectedIssuer: testIss, Now: func() time.Time { return t0.Add(8*time.Hour + time.Second) }}, ErrTokenExpired},
		{"not yet valid", mint(t, hdr("RS256"), stdClaims(), testRSA), &TokenValidationOptions{ExpectedIssuer: testIss, Now: func() time.Time { return t0.Add(-2 * time.Minute) }}, ErrTokenNotYetValid},
		{"slack too small (expired)", mint(t, hdr("RS256"), stdClaims(), testRSA), &TokenValidationOptions{ExpectedIssuer: testIss, TimeSlack: 5 * time.Second, Now: func() time.Time { return t0.Add(8*time.Hour + 6*time.Second) }}, ErrTokenExpired},
		{"slack too small (nbf)", mint(t, hdr("RS256"), stdClaims(), testRSA), &TokenValidationOptions{ExpectedIssuer: testIss, TimeSlack: 5 * time.Second, Now: func() time.Time { return t0.Add(-time.Minute - 6*time.Second) }}, ErrTokenNotYetValid},
		{"tampered payload", tamper(mint(t, hdr("RS256"), stdClaims(), testRSA)), opts(), ErrSignatureInvalid},
		{"kid matches but other key signed", mint(t, hdr("RS256"), stdClaims(), attackerRSA), opts(), ErrSignatureInvalid},
		{"RS256 token, EC-only key confusion: ES256 header with RSA sig", strings.Replace(mint(t, hdr("RS256"), stdClaims(), testRSA), b64([]byte(`{"alg":"RS256","kid":"kid1","typ":"JWT"}`)), b64([]byte(`{"alg":"ES256","kid":"kid1","typ":"JWT"}`)), 1), opts(), ErrSignatureInvalid},
		{"crit header", mint(t, hdr("RS256", "crit", []string{"b64"}, "b64", false), stdClaims(), testRSA), opts(), ErrUnsupportedHeader},
		{"RSA256 label", strings.Replace(mint(t, hdr("RS256"), stdClaims(), testRSA), b64([]byte(`{"alg":"RS256","kid":"kid1","typ":"JWT"}`)), b64([]byte(`{"alg":"RSA256","kid":"kid1","typ":"JWT"}`)), 1), opts(), ErrUnsupportedAlgorithm},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := mustParse(t, tc.token)
			s, err := tok.Validate(trusted, tc.o)
			if err == nil {
				t.Fatalf("validated (signer %v)", s)
			}
			var tve *TokenValidationError
			if !errors.As(err, &tve) || !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func tamper(s string) string {
	parts := strings.Split(s, ".")
	c := stdClaims()
	c["x-ms-sgx-is-debuggable"] = false
	_ = c
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	p = []byte(strings.Replace(string(p), `"sgx"`, `"sgz"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(p)
	return strings.Join(parts, ".")
}

func TestSlackHonoured(t *testing.T) {
	trusted := []Signer{testSigner(t, "kid1")}
	tok := mustParse(t, mint(t, map[string]any{"alg": "RS256", "kid": "kid1"}, stdClaims(), testRSA))
	for _, at := range []time.Time{t0.Add(8*time.Hour + 4*time.Second), t0.Add(-time.Minute - 4*time.Second)} {
		o := &TokenValidationOptions{ExpectedIssuer: testIss, TimeSlack: 5 * time.Second, Now: func() time.Time { return at }}
		if _, err := tok.Validate(trusted, o); err != nil {
			t.Errorf("at %s with 5s slack: %v", at, err)
		}
	}
}

func TestUnsecuredAcceptedOnlyWhenAllowed(t *testing.T) {
	tok := mustParse(t, mint(t, map[string]any{"alg": "none"}, stdClaims(), nil))
	o := opts()
	o.AllowUnsecured = true
	if s, err := tok.Validate(nil, o); err != nil || s != nil {
		t.Fatalf("allowed unsecured: %v %v", s, err)
	}
	// Times and issuer are still checked.
	o.Now = func() time.Time { return t0.Add(9 * time.Hour) }
	if _, err := tok.Validate(nil, o); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired unsecured: %v", err)
	}
	// alg none with a signature is refused even when allowed.
	withSig := tok.String() + "AAAA"
	o = opts()
	o.AllowUnsecured = true
	if _, err := mustParse(t, withSig).Validate(nil, o); !errors.Is(err, ErrUnsecuredToken) {
		t.Fatalf("none+sig: %v", err)
	}
}

func TestExpiredUnusedSignerTolerated(t *testing.T) {
	good := testSigner(t, "kid1")
	oldCert := selfSigned(t, attackerRSA, "old", t0.Add(-3*365*24*time.Hour), t0.Add(-365*24*time.Hour))
	expired := Signer{KeyID: "old", Certificates: []*x509.Certificate{oldCert}, PublicKey: oldCert.PublicKey}
	tok := mustParse(t, mint(t, map[string]any{"alg": "RS256", "kid": "kid1"}, stdClaims(), testRSA))
	if _, err := tok.Validate([]Signer{expired, good}, opts()); err != nil {
		t.Fatal(err)
	}
	// But a token signed by the expired key fails.
	tok = mustParse(t, mint(t, map[string]any{"alg": "RS256", "kid": "old"}, stdClaims(), attackerRSA))
	if _, err := tok.Validate([]Signer{expired, good}, opts()); !errors.Is(err, ErrSignerNotValid) {
		t.Fatalf("token from expired key: %v", err)
	}
}

func TestCallback(t *testing.T) {
	trusted := []Signer{testSigner(t, "kid1")}
	tok := mustParse(t, mint(t, map[string]any{"alg": "RS256", "kid": "kid1"}, stdClaims(), testRSA))
	boom := errors.New("boom")
	o := opts()
	o.Callback = func(tk *Token, s *Signer) error {
		if s == nil || s.KeyID != "kid1" || tk != tok {
			t.Error("callback args")
		}
		return boom
	}
	_, err := tok.Validate(trusted, o)
	if !errors.Is(err, ErrCallbackRejected) || !errors.Is(err, boom) {
		t.Fatal(err)
	}
}

func TestMalformedTokens(t *testing.T) {
	keys(t)
	good := mint(t, map[string]any{"alg": "RS256", "kid": "kid1"}, stdClaims(), testRSA)
	cases := map[string]string{
		"empty":             "",
		"garbage":           "this is not a token",
		"binary garbage":    "\x00\xff\xfe.\x01.\x02",
		"one segment":       "eyJhbGciOiJSUzI1NiJ9",
		"truncated (1 dot)": good[:strings.IndexByte(good, '.')+10],
		"truncated mid-sig": good[:len(good)-7] + "!",
		"five segments":     "a.b.c.d.e",
		"empty header":      ".e30.",
		"header not json":   b64([]byte("nope")) + ".e30.",
		"header array":      b64([]byte("[1]")) + ".e30.",
		"no alg":            b64([]byte(`{"typ":"JWT"}`)) + ".e30.",
		"payload not json":  b64([]byte(`{"alg":"none"}`)) + "." + b64([]byte("{{")) + ".",
		"padded base64":     b64([]byte(`{"alg":"none"}`)) + "=.e30.",
		"exp not number":    b64([]byte(`{"alg":"none"}`)) + "." + b64([]byte(`{"exp":"soon"}`)) + ".",
		"iss not string":    b64([]byte(`{"alg":"none"}`)) + "." + b64([]byte(`{"iss":1}`)) + ".",
		"too long":          strings.Repeat("a", MaxTokenLength+1),
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			tok, err := ParseToken(s)
			if err == nil {
				t.Fatalf("parsed: %v", tok.Header())
			}
			if !errors.Is(err, ErrMalformedToken) || !strings.Contains(err.Error(), "malformed token") {
				t.Fatalf("err = %v", err)
			}
		})
	}
	// Truncating a good token at every length never panics and never validates.
	trusted := []Signer{testSigner(t, "kid1")}
	for i := 0; i < len(good); i++ {
		if tok, err := ParseToken(good[:i]); err == nil {
			if _, err := tok.Validate(trusted, opts()); err == nil {
				t.Fatalf("prefix %d validated", i)
			}
		}
	}
}

func FuzzParseToken(f *testing.F) {
	keys(f)
	f.Add(mint(f, map[string]any{"alg": "RS256", "kid": "kid1"}, stdClaims(), testRSA))
	f.Add(mint(f, map[string]any{"alg": "none"}, stdClaims(), nil))
	f.Add("eyJhbGciOiJub25lIn0..")
	f.Add("eyJhbGciOiJub25lIn0.bnVsbA.")
	f.Add("a.b.c")
	trusted := []Signer{testSigner(f, "kid1")}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("error without ErrMalformedToken: %v", err)
			}
			return
		}
		if tok.String() != s {
			t.Fatal("String() differs from input")
		}
		_ = tok.Header()
		_ = tok.RawClaims()
		_ = tok.RawHeader()
		_, _ = tok.Header().Certificates()
		o := opts()
		if _, err := tok.Validate(trusted, o); err == nil && tok.Header().Algorithm == "none" {
			t.Fatal("alg none validated")
		}
	})
}

func FuzzParseSigners(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"k","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`))
	f.Add([]byte(`{"keys":[{"x5c":["AAAA"]}]}`))
	if b, err := os.ReadFile("testdata/cpp-recordings/Attestation-MetadataTests.GetSigningCertificates-Shared.json"); err == nil {
		var rec recording
		if json.Unmarshal(b, &rec) == nil && len(rec.Entries) > 0 {
			f.Add([]byte(rec.Entries[0].ResponseBody))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		signers, err := ParseSigners(b)
		if err == nil && len(signers) == 0 {
			t.Fatal("no error and no signers")
		}
		for _, s := range signers {
			if s.PublicKey == nil {
				t.Fatal("signer without key")
			}
		}
	})
}
