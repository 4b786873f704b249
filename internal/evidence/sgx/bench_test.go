package sgx

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/collateral"
)

// Benchmarks. The budget: a warm verification (caches filled) costs at most
// 1.5x BenchmarkTwoECDSAVerifications, the two P-256 verifications no
// verifier can avoid (quote signature, QE report signature).
//
//	go test ./internal/evidence/sgx -run '^$' -bench . -benchmem -benchtime 2s

func benchSetup(b *testing.B) (*Verifier, []byte) {
	at := mustTime(b, "2025-07-01T00:00:00Z")
	src := collateral.NewCache(collateral.Dir{FS: sgxvectors.MustFS("dcapqvl")}, collateral.CacheOptions{Now: func() time.Time { return at }})
	o := DefaultOptions()
	o.Now = func() time.Time { return at }
	o.Collateral = src
	v, err := NewVerifier(o)
	if err != nil {
		b.Fatal(err)
	}
	q := readFile(b, "dcapqvl/sgx_quote.bin")
	if _, err := v.Verify(context.Background(), q); err != nil {
		b.Fatal(err)
	}
	return v, q
}

func BenchmarkVerifyWarm(b *testing.B) {
	v, q := benchSetup(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyWarmParallel(b *testing.B) {
	v, q := benchSetup(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(context.Background(), q); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerifyCold uses a fresh verifier (empty caches) each time, with
// the collateral already fetched.
func BenchmarkVerifyCold(b *testing.B) {
	at := mustTime(b, "2025-07-01T00:00:00Z")
	bundle := bundleFromDir(b, "dcapqvl", "00A067110000")
	q := readFile(b, "dcapqvl/sgx_quote.bin")
	b.ReportAllocs()
	for b.Loop() {
		v, _ := NewVerifier(Options{Now: func() time.Time { return at }})
		if _, err := v.Verify(context.Background(), q, WithCollateral(bundle)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTwoECDSAVerifications(b *testing.B) {
	pq, err := ParseQuote(readFile(b, "dcapqvl/sgx_quote.bin"))
	if err != nil {
		b.Fatal(err)
	}
	att, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, pq.AttestationKey[:]...))
	if err != nil {
		b.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(mustChain(b, pq)[0])
	pck := leaf.PublicKey.(*ecdsa.PublicKey)
	qe := pq.QEReport.Bytes()
	b.ReportAllocs()
	for b.Loop() {
		if !verifyRS(att, pq.SignedData(), pq.Signature[:]) || !verifyRS(pck, qe, pq.QEReportSignature[:]) {
			b.Fatal("signature")
		}
	}
}

func BenchmarkParseQuote(b *testing.B) {
	q := readFile(b, "dcapqvl/sgx_quote.bin")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseQuote(q); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStepPCKChain(b *testing.B) {
	pq, _ := ParseQuote(readFile(b, "dcapqvl/sgx_quote.bin"))
	v, _ := NewVerifier(DefaultOptions())
	b.ReportAllocs()
	for b.Loop() {
		if e := v.buildPCKChain(mustChain(b, pq)); e.err != nil {
			b.Fatal(e.err)
		}
	}
}

func BenchmarkStepTCBInfo(b *testing.B) {
	bundle := bundleFromDir(b, "dcapqvl", "00A067110000")
	b.ReportAllocs()
	for b.Loop() {
		v, _ := NewVerifier(DefaultOptions())
		if _, err := v.verifiedSigned(bundle.TCBInfo, true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStepCRL(b *testing.B) {
	bundle := bundleFromDir(b, "dcapqvl", "00A067110000")
	b.ReportAllocs()
	for b.Loop() {
		v, _ := NewVerifier(DefaultOptions())
		if _, err := v.verifiedCRL(bundle.RootCACRL, IntelRoot().Cert, "Root CA"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStepParsePCKExtensions(b *testing.B) {
	pq, _ := ParseQuote(readFile(b, "dcapqvl/sgx_quote.bin"))
	leaf, _ := x509.ParseCertificate(mustChain(b, pq)[0])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PCKExtensionsFromCertificate(leaf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWarmBudget alternates one warm verification and the two
// unavoidable ECDSA verifications in the same loop, so both see the same
// machine load, and reports their time ratio (budget: <= 1.5).
func BenchmarkWarmBudget(b *testing.B) {
	v, q := benchSetup(b)
	twoECDSA := quoteSignatures(b, q)
	ctx := context.Background()
	var warm, base time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := v.Verify(ctx, q); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		twoECDSA()
		t2 := time.Now()
		warm += t1.Sub(t0)
		base += t2.Sub(t1)
	}
	b.ReportMetric(float64(warm)/float64(base), "warm/2ecdsa")
	b.ReportMetric(float64(warm.Nanoseconds())/float64(b.N), "warm-ns/op")
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "2ecdsa-ns/op")
}

// BenchmarkColdBudget interleaves one cold verification (a fresh verifier:
// every chain, CRL and signed collateral document parsed and verified) with
// two bare ECDSA-P256 verifications, so machine load hits both alike. On the
// quiet 2-core machine two verifications take ≈177 µs, so issue 17's
// cold target of 1.1 ms is a ratio of about 6.2.
//
//	go test -run '^$' -bench ColdBudget -benchtime 2s ./internal/evidence/sgx
func BenchmarkColdBudget(b *testing.B) {
	at := mustTime(b, "2025-07-01T00:00:00Z")
	bundle := bundleFromDir(b, "dcapqvl", "00A067110000")
	q := readFile(b, "dcapqvl/sgx_quote.bin")
	twoECDSA := quoteSignatures(b, q)
	ctx := context.Background()
	var cold, base time.Duration
	for b.Loop() {
		t0 := time.Now()
		v, err := NewVerifier(Options{Now: func() time.Time { return at }})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Verify(ctx, q, WithCollateral(bundle)); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		twoECDSA()
		t2 := time.Now()
		cold += t1.Sub(t0)
		base += t2.Sub(t1)
	}
	b.ReportMetric(float64(cold)/float64(base), "cold/2ecdsa")
	b.ReportMetric(float64(cold.Nanoseconds())/float64(b.N), "cold-ns/op")
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "2ecdsa-ns/op")
}

// quoteSignatures returns the two bare ECDSA verifications of quote q (its
// signature by the attestation key, the QE report's by the PCK key), the
// unavoidable crypto the budget benchmarks compare against.
func quoteSignatures(b *testing.B, q []byte) func() {
	pq, err := ParseQuote(q)
	if err != nil {
		b.Fatal(err)
	}
	att, _ := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, pq.AttestationKey[:]...))
	leaf, _ := x509.ParseCertificate(mustChain(b, pq)[0])
	pck := leaf.PublicKey.(*ecdsa.PublicKey)
	qe := pq.QEReport.Bytes()
	return func() {
		if !verifyRS(att, pq.SignedData(), pq.Signature[:]) || !verifyRS(pck, qe, pq.QEReportSignature[:]) {
			b.Fatal("signature")
		}
	}
}
