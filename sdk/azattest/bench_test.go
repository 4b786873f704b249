package azattest

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"
)

// benchToken returns a real MAA SGX attestation token (RS256, RSA-2048) and
// the /certs JWKS recorded with it.
func benchToken(b *testing.B) (*Token, []Signer, []byte) {
	b.Helper()
	var rec recording
	raw, err := readFileB("testdata/cpp-recordings/Attestation-AttestationTests.AttestWithRuntimeData-SgxEnclave_Shared.json")
	if err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		b.Fatal(err)
	}
	signers, err := ParseSigners(rec.Entries[0].ResponseBody)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := ParseToken(rec.Entries[1].responseToken())
	if err != nil {
		b.Fatal(err)
	}
	return tok, signers, rec.Entries[0].ResponseBody
}

var benchOpts = &TokenValidationOptions{ExpectedIssuer: "https://sharedwus.wus.attest.azure.net", Now: func() time.Time { return recordedAt }}

// BenchmarkValidateWarmCache is what every client call does after the first:
// signers from the (warm) cache, then Token.Validate.
func BenchmarkValidateWarmCache(b *testing.B) {
	tok, signers, _ := benchToken(b)
	base := &base{endpoint: "https://sharedwus.wus.attest.azure.net", validate: *benchOpts,
		signers: &signerCache{interval: time.Minute, signers: signers, fetched: time.Now()}}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := base.validateToken(ctx, tok, false, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareVerifyPKCS1v15 is the floor: SHA-256 of the signing input
// and rsa.VerifyPKCS1v15 with the right key, nothing else.
func BenchmarkBareVerifyPKCS1v15(b *testing.B) {
	tok, signers, _ := benchToken(b)
	var pub *rsa.PublicKey
	for _, s := range signers {
		if s.KeyID == tok.Header().KeyID {
			pub = s.PublicKey.(*rsa.PublicKey)
		}
	}
	input, sig := []byte(tok.SigningInput()), tok.Signature()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := sha256.Sum256(input)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseAndValidate adds parsing the compact token (base64 and JSON
// of a ~5 kB payload) to the warm-cache validation.
func BenchmarkParseAndValidate(b *testing.B) {
	tok, signers, _ := benchToken(b)
	s := tok.String()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t, err := ParseToken(s)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := t.Validate(signers, benchOpts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateVsBare interleaves both operations on the same token in
// one loop, so machine noise hits both alike, and reports their ratio
// (budget: ≤ 1.3).
func BenchmarkValidateVsBare(b *testing.B) {
	tok, signers, _ := benchToken(b)
	base := &base{endpoint: "https://sharedwus.wus.attest.azure.net", validate: *benchOpts,
		signers: &signerCache{interval: time.Minute, signers: signers, fetched: time.Now()}}
	var pub *rsa.PublicKey
	for _, s := range signers {
		if s.KeyID == tok.Header().KeyID {
			pub = s.PublicKey.(*rsa.PublicKey)
		}
	}
	input, sig := []byte(tok.SigningInput()), tok.Signature()
	ctx := context.Background()
	var tv, tb time.Duration
	b.ResetTimer()
	validate := func() time.Duration {
		s := time.Now()
		if _, err := base.validateToken(ctx, tok, false, nil); err != nil {
			b.Fatal(err)
		}
		return time.Since(s)
	}
	bare := func() time.Duration {
		s := time.Now()
		d := sha256.Sum256(input)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig); err != nil {
			b.Fatal(err)
		}
		return time.Since(s)
	}
	for i := 0; i < b.N; i++ {
		// Alternate the order so neither always runs on a warmer cache.
		if i%2 == 0 {
			tv += validate()
			tb += bare()
		} else {
			tb += bare()
			tv += validate()
		}
	}
	b.ReportMetric(float64(tv.Nanoseconds())/float64(b.N), "validate-ns/op")
	b.ReportMetric(float64(tb.Nanoseconds())/float64(b.N), "bare-ns/op")
	b.ReportMetric(float64(tv)/float64(tb), "ratio")
}
