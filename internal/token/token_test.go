package token

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/keys"
)

type fixedKey struct{ k *keys.Key }

func (f fixedKey) Acquire() (*keys.Key, func(), error) { return f.k, func() {}, nil }

var testNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func newIssuer(t *testing.T) (*Issuer, *keys.Key) {
	t.Helper()
	k, err := keys.Generate("https://maat.example", testNow.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return &Issuer{IssuerURI: func() string { return "https://maat.example" }, Keys: fixedKey{k}, Now: func() time.Time { return testNow }}, k
}

func split(t *testing.T, tok string) (header []byte, claims map[string]any, sig string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	h, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(p)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		t.Fatal(err)
	}
	return h, claims, parts[2]
}

func TestHeaderBytesAreMAAs(t *testing.T) {
	is, k := newIssuer(t)
	tok, err := is.Issue(map[string]any{"x": 1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, _, sig := split(t, tok)
	// MAA's attestation token header: alg, jku, kid, typ in this order.
	want := `{"alg":"RS256","jku":"https://maat.example/certs","kid":"` + k.KID + `","typ":"JWT"}`
	if string(h) != want {
		t.Fatalf("header\n got %s\nwant %s", h, want)
	}
	j, err := jose.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Verify(k.Cert.PublicKey.(*rsa.PublicKey)); err != nil || sig == "" {
		t.Fatalf("signature does not verify: %v", err)
	}
}

func TestStandardClaimsAndLifetimes(t *testing.T) {
	is, _ := newIssuer(t)
	cases := []struct {
		name     string
		opts     Options
		lifetime time.Duration
		jti      bool
	}{
		{"attestation", Options{}, AttestationLifetime, true},
		{"management", Options{Management: true}, ManagementLifetime, false},
		{"TPM report validity", Options{Lifetime: 90 * time.Minute}, 90 * time.Minute, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := is.Issue(map[string]any{"claim": "v"}, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, c, _ := split(t, tok)
			if c["iss"] != "https://maat.example" || c["claim"] != "v" {
				t.Fatalf("claims %v", c)
			}
			iat, _ := c["iat"].(json.Number).Int64()
			nbf, _ := c["nbf"].(json.Number).Int64()
			exp, _ := c["exp"].(json.Number).Int64()
			if iat != testNow.Unix() || nbf != iat || exp != testNow.Add(tc.lifetime).Unix() {
				t.Fatalf("iat %d nbf %d exp %d, want lifetime %s", iat, nbf, exp, tc.lifetime)
			}
			_, hasJTI := c["jti"]
			_, hasVer := c["x-ms-ver"]
			if hasJTI != tc.jti || hasVer != tc.jti {
				t.Fatalf("jti %v x-ms-ver %v, want %v", hasJTI, hasVer, tc.jti)
			}
			if tc.jti {
				if s, _ := c["jti"].(string); len(s) != 64 {
					t.Fatalf("jti %q is not 32 random bytes in hex", s)
				}
				if c["x-ms-ver"] != "1.0" {
					t.Fatalf("x-ms-ver %v", c["x-ms-ver"])
				}
			}
		})
	}
}

func TestCallerClaimsWin(t *testing.T) {
	is, _ := newIssuer(t)
	tok, err := is.Issue(map[string]any{"x-ms-ver": "2.0"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, c, _ := split(t, tok); c["x-ms-ver"] != "2.0" {
		t.Fatalf("x-ms-ver %v", c["x-ms-ver"])
	}
}

func TestUnsecuredToken(t *testing.T) {
	is, k := newIssuer(t)
	tok, err := is.Issue(map[string]any{"a": true}, Options{Unsecured: true})
	if err != nil {
		t.Fatal(err)
	}
	h, c, sig := split(t, tok)
	if sig != "" {
		t.Fatalf("unsecured token has a signature %q", sig)
	}
	want := `{"alg":"none","jku":"https://maat.example/certs","kid":"` + k.KID + `","typ":"JWT"}`
	if string(h) != want {
		t.Fatalf("header\n got %s\nwant %s", h, want)
	}
	if c["a"] != true {
		t.Fatalf("claims %v", c)
	}
}

func TestX5CAndX5T(t *testing.T) {
	is, k := newIssuer(t)
	tok, err := is.Issue(nil, Options{X5C: true})
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := split(t, tok)
	var hdr map[string]any
	_ = json.Unmarshal(h, &hdr)
	x5c, _ := hdr["x5c"].([]any)
	if len(x5c) != 1 || x5c[0] != base64.StdEncoding.EncodeToString(k.Cert.Raw) {
		t.Fatalf("x5c %v", hdr["x5c"])
	}
	tok, err = is.Issue(nil, Options{X5T: true})
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ = split(t, tok)
	hdr = nil
	_ = json.Unmarshal(h, &hdr)
	if hdr["x5t"] != jose.X5T(k.Cert) || hdr["x5c"] != nil {
		t.Fatalf("header %s", h)
	}
}
