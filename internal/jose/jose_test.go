package jose

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func selfSigned(t testing.TB, key any, pub any) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

var rsaKey, _ = rsa.GenerateKey(rand.Reader, 2048)

func TestSignVerifyRoundTrip(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, alg := range []string{AlgRS256, AlgPS256} {
		tok, err := Sign(Header{Alg: alg, KID: "k", Typ: "JWT"}, map[string]any{"b": 2, "a": 1}, rsaKey)
		if err != nil {
			t.Fatal(err)
		}
		j, err := Parse(tok)
		if err != nil {
			t.Fatal(err)
		}
		if string(j.Payload) != `{"a":1,"b":2}` {
			t.Fatalf("payload %s", j.Payload)
		}
		if err := j.Verify(&rsaKey.PublicKey); err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		other, _ := rsa.GenerateKey(rand.Reader, 2048)
		if err := j.Verify(&other.PublicKey); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("%s with another key: %v", alg, err)
		}
	}
	tok, err := Sign(Header{Alg: AlgES256}, map[string]string{"x": "y"}, ecKey)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := Parse(tok)
	if len(j.Signature) != 64 {
		t.Fatalf("ES256 signature is %d bytes, want raw r||s of 64", len(j.Signature))
	}
	if err := j.Verify(&ecKey.PublicKey); err != nil {
		t.Fatal(err)
	}
	if err := j.Verify(&rsaKey.PublicKey); !errors.Is(err, ErrUnsupportedAlg) {
		t.Fatalf("ES256 with RSA key: %v", err)
	}
}

func TestHeaderBytesAreMAAShape(t *testing.T) {
	tok, err := Sign(Header{Alg: AlgRS256, JKU: "https://x/certs", KID: "abc", Typ: "JWT"}, map[string]any{}, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := Parse(tok)
	if string(j.RawHeader) != `{"alg":"RS256","jku":"https://x/certs","kid":"abc","typ":"JWT"}` {
		t.Fatalf("header %s", j.RawHeader)
	}
}

func TestRSA256AliasAndX5C(t *testing.T) {
	cert := selfSigned(t, rsaKey, &rsaKey.PublicKey)
	x5c := base64.StdEncoding.EncodeToString(cert.Raw)
	// The 2020 .NET SDK's shape: alg "RSA256", x5c in the header.
	tok, err := SignPayload(Header{Alg: AlgRS256, X5C: []string{x5c}}, []byte(`{"AttestationPolicy":"x"}`), rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	hdr := B64.EncodeToString([]byte(`{"alg":"RSA256","x5c":["` + strings.ReplaceAll(x5c, "+", `\u002B`) + `"]}`))
	// Re-sign with the aliased header.
	j0, _ := Parse(hdr + "." + parts[1] + ".")
	sig, err := signBytes(AlgRS256, rsaKey, []byte(j0.signingInput))
	if err != nil {
		t.Fatal(err)
	}
	j, err := Parse(hdr + "." + parts[1] + "." + B64.EncodeToString(sig))
	if err != nil {
		t.Fatal(err)
	}
	if j.Alg() != AlgRS256 {
		t.Fatalf("Alg() = %q", j.Alg())
	}
	certs, err := j.HeaderCertificates()
	if err != nil || len(certs) != 1 || !certs[0].Equal(cert) {
		t.Fatalf("HeaderCertificates = %v, %v", certs, err)
	}
	if err := j.Verify(certs[0].PublicKey); err != nil {
		t.Fatal(err)
	}
	// The same certificate under jwk.x5c (the Python beta SDK's shape).
	j2, _ := Parse(B64.EncodeToString([]byte(`{"alg":"RS256","jwk":{"kty":"RSA","x5c":["`+x5c+`"]}}`)) + ".e30.")
	if c, err := j2.HeaderCertificates(); err != nil || !c[0].Equal(cert) {
		t.Fatalf("jwk.x5c: %v", err)
	}
}

func TestRejections(t *testing.T) {
	none, _ := Unsecured(Header{KID: "k", JKU: "https://x/certs", Typ: "JWT"}, map[string]any{"a": 1})
	j, err := Parse(none)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(none, ".") || string(j.RawHeader) != `{"alg":"none","jku":"https://x/certs","kid":"k","typ":"JWT"}` {
		t.Fatalf("unsecured token %s", none)
	}
	if err := j.Verify(&rsaKey.PublicKey); !errors.Is(err, ErrUnsecured) {
		t.Fatalf("Verify(alg none) = %v", err)
	}
	if err := j.CheckUnsecured(); err != nil {
		t.Fatalf("CheckUnsecured = %v", err)
	}
	withSig, _ := Parse(strings.TrimSuffix(none, ".") + ".AAAA")
	if err := withSig.CheckUnsecured(); !errors.Is(err, ErrUnexpectedSigner) {
		t.Fatalf("CheckUnsecured with signature = %v", err)
	}
	// HS256 with the public key as the secret is never verified.
	hs, _ := Parse(B64.EncodeToString([]byte(`{"alg":"HS256"}`)) + ".e30.AAAA")
	if err := hs.Verify(&rsaKey.PublicKey); !errors.Is(err, ErrUnsupportedAlg) {
		t.Fatalf("HS256 = %v", err)
	}
	if err := hs.CheckUnsecured(); !errors.Is(err, ErrUnsupportedAlg) {
		t.Fatalf("HS256 CheckUnsecured = %v", err)
	}
	for _, bad := range []string{"", "abc", "a.b", "a.b.c.d", "!!.e30.", "e30.!!.", "e30.e30.!!", "bnVsbA.e30.", B64.EncodeToString([]byte(`{}`)) + ".e30.", B64.EncodeToString([]byte(`{"alg":"RS256","x5c":["not base64!"]}`)) + ".e30."} {
		j, err := Parse(bad)
		if err == nil {
			if _, err = j.HeaderCertificates(); err == nil || errors.Is(err, ErrNoKey) {
				t.Errorf("Parse(%q) accepted", bad)
			}
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", bad, err)
		}
	}
	if _, err := Parse(strings.Repeat("a", MaxCompactLen+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized = %v", err)
	}
	if _, err := (&JWS{}).HeaderCertificates(); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no x5c = %v", err)
	}
}

func TestDecodeB64Loose(t *testing.T) {
	raw := []byte{0xfb, 0xff, 0xfe, 0x01}
	for _, s := range []string{"-__-AQ", "-__-AQ==", "+//+AQ==", "+//+AQ"} {
		b, err := DecodeB64Loose(s)
		if err != nil || string(b) != string(raw) {
			t.Errorf("DecodeB64Loose(%q) = %x, %v", s, b, err)
		}
	}
	if _, err := DecodeB64Loose("not*base64"); err == nil {
		t.Error("garbage accepted")
	}
}

func FuzzParse(f *testing.F) {
	tok, _ := Sign(Header{Alg: AlgRS256, KID: "k"}, map[string]any{"a": 1}, rsaKey)
	f.Add(tok)
	f.Add("eyJhbGciOiJub25lIn0..")
	f.Add("eyJhbGciOiJub25lIn0.eyJBdHRlc3RhdGlvblBvbGljeSI6ICJEUXAyWlhKemFXOXVQVEV1TURzTkNtRjFkR2h2Y21sNllYUnBiMjV5ZFd4bGN5QjdJRDAtSUhCbGNtMXBkQ2dwT3lCOU93MEthWE56ZFdGdVkyVnlkV3hsY3lCN2ZUcyJ9.")
	f.Fuzz(func(t *testing.T, s string) {
		j, err := Parse(s)
		if err != nil {
			return
		}
		_, _ = j.HeaderCertificates()
		_ = j.Verify(&rsaKey.PublicKey)
		_ = j.CheckUnsecured()
	})
}
