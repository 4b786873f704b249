package simulate

import (
	"context"
	"testing"
	"time"
)

func BenchmarkSGXQuote(b *testing.B) {
	now := time.Now()
	p, err := Load(b.TempDir(), now)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.SGXQuote(Enclave{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	o := Enclave{}
	q, _ := p.SGXQuote(o)
	t := &testing.T{}
	v := devVerifier(t, p, now)
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.Verify(context.Background(), q); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSNPEvidence: building one simulated SEV-SNP report JSON (one
// ECDSA P-384 signature), verifying it with the chain cached, and creating a
// data directory's AMD PKI (two RSA-3072 keys: the cost every fresh data
// directory pays once).
//
//	go test -run '^$' -bench SNP ./internal/simulate
func BenchmarkSNPEvidence(b *testing.B) {
	now := time.Now()
	p, err := Load(b.TempDir(), now)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.SNPEvidence(SNPGuest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	ev, _ := p.SNPEvidence(SNPGuest{})
	v := devSNPVerifier(&testing.T{}, p, now)
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.Verify(context.Background(), ev, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("generate-amd-pki", func(b *testing.B) {
		for b.Loop() {
			if _, err := generateAMD(b.TempDir(), now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
