package azattest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"sync"
	"testing"
	"time"
)

var (
	keyOnce              sync.Once
	testRSA, attackerRSA *rsa.PrivateKey
	testEC               *ecdsa.PrivateKey
)

func keys(t testing.TB) {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		if testRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if attackerRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if testEC, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

func selfSigned(t testing.TB, key crypto.Signer, cn string, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter,
		BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	t0      = time.Date(2022, 11, 17, 20, 30, 0, 0, time.UTC)
	testIss = "https://test.wus.attest.azure.net"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// mint signs header+claims with key according to header["alg"].
func mint(t testing.TB, header, claims map[string]any, key any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := b64(h) + "." + b64(c)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	switch header["alg"] {
	case "none":
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "ES256":
		r, s, e := ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), digest[:])
		err = e
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case "HS256":
		m := hmac.New(sha256.New, key.([]byte))
		m.Write([]byte(input))
		sig = m.Sum(nil)
	default:
		t.Fatalf("alg %v", header["alg"])
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

func stdClaims() map[string]any {
	return map[string]any{
		"iss":      testIss,
		"iat":      t0.Add(-time.Minute).Unix(),
		"nbf":      t0.Add(-time.Minute).Unix(),
		"exp":      t0.Add(8 * time.Hour).Unix(),
		"x-ms-ver": "1.0", "x-ms-attestation-type": "sgx",
	}
}

func testSigner(t testing.TB, kid string) Signer {
	keys(t)
	cert := selfSigned(t, testRSA, testIss, t0.Add(-24*time.Hour), t0.Add(365*24*time.Hour))
	return Signer{KeyID: kid, Certificates: []*x509.Certificate{cert}, PublicKey: cert.PublicKey}
}

func opts() *TokenValidationOptions {
	return &TokenValidationOptions{ExpectedIssuer: testIss, Now: func() time.Time { return t0 }}
}

func readFileB(name string) ([]byte, error) { return os.ReadFile(name) }
