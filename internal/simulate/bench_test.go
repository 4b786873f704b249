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
