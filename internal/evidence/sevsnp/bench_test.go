package sevsnp

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha512"
	"testing"
	"time"
)

// BenchmarkVerifyWarm is a whole SevSnpVm evidence verification (decode the
// report JSON, parse, chain from the cache, extension checks, ECDSA P-384,
// claims) with the chain already verified once. Compare with
// BenchmarkECDSAP384Verify, its unavoidable crypto:
//
//	go test -run '^$' -bench 'VerifyWarm|ECDSAP384' -benchtime 2s ./internal/evidence/sevsnp/
func BenchmarkVerifyWarm(b *testing.B) {
	vec := tavVector(b, "milan")
	raw := evidenceJSON(vec.report, vec.chain)
	v := newTestVerifier(b, pinTAV, nil)
	if _, err := v.Verify(context.Background(), raw, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), raw, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkECDSAP384Verify is one bare ECDSA P-384 verification of the same
// report with the same key (hashing included).
func BenchmarkECDSAP384Verify(b *testing.B) {
	vec := tavVector(b, "milan")
	r, _ := ParseReport(vec.report)
	ch, _ := ParseChain(vec.chain)
	pub := ch.Leaf.PublicKey.(*ecdsa.PublicKey)
	rb, sb := leToBig(r.SigR[:]), leToBig(r.SigS[:])
	for b.Loop() {
		d := sha512.Sum384(r.Signed())
		if !ecdsa.Verify(pub, d[:], rb, sb) {
			b.Fatal("bad signature")
		}
	}
}

// BenchmarkVerifyCold verifies with a fresh verifier each time (RSA-PSS
// chain checks included).
func BenchmarkVerifyCold(b *testing.B) {
	vec := tavVector(b, "milan")
	raw := evidenceJSON(vec.report, vec.chain)
	for b.Loop() {
		v := newTestVerifier(b, pinTAV, nil)
		if _, err := v.Verify(context.Background(), raw, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWarmBudget alternates one warm SevSnpVm verification (the whole
// evidence.Verifier path: decode the report JSON, parse, cached chain,
// extension checks, ECDSA P-384, claims) and one bare ECDSA P-384
// verification of the same report in the same loop, so both see the same
// machine load, and reports their time ratio (target <= 1.3):
//
//	go test -run '^$' -bench WarmBudget -benchtime 3s ./internal/evidence/sevsnp/
func BenchmarkWarmBudget(b *testing.B) {
	vec := tavVector(b, "milan")
	raw := evidenceJSON(vec.report, vec.chain)
	v := newTestVerifier(b, pinTAV, nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw, nil); err != nil {
		b.Fatal(err)
	}
	r, _ := ParseReport(vec.report)
	ch, _ := ParseChain(vec.chain)
	pub := ch.Leaf.PublicKey.(*ecdsa.PublicKey)
	var warm, base time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := v.Verify(ctx, raw, nil); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		d := sha512.Sum384(r.Signed())
		if !ecdsa.Verify(pub, d[:], leToBig(r.SigR[:]), leToBig(r.SigS[:])) {
			b.Fatal("signature")
		}
		t2 := time.Now()
		warm += t1.Sub(t0)
		base += t2.Sub(t1)
	}
	b.ReportMetric(float64(warm)/float64(base), "warm/ecdsa")
	b.ReportMetric(float64(warm.Nanoseconds())/float64(b.N), "warm-ns/op")
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "ecdsa-ns/op")
}
