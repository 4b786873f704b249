package tdx

import (
	"bytes"
	"context"
	"testing"
)

// Every single-byte change in the signed region (header and TD report) of
// real TD quotes, v4 and v5, is rejected; so is every truncation short of
// the quote's own length, without panic.
func TestMutationAndTruncation(t *testing.T) {
	for _, tc := range []struct{ set, quote, at string }{
		{"dcapqvl_v4", "quote.bin", "2025-06-19T12:00:00Z"},
		{"gotdxguest_v5", "quote.bin", "2026-02-20T00:00:00Z"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			q := readFile(t, tc.set, tc.quote)
			v := newVerifier(t, tc.set, tc.at)
			ctx := context.Background()
			if _, err := v.Verify(ctx, q); err != nil {
				t.Fatal(err)
			}
			pq, _ := ParseQuote(q)
			signed := len(pq.SignedData())
			for i := 0; i < signed; i++ {
				for _, x := range []byte{0x01, 0x80} {
					m := bytes.Clone(q)
					m[i] ^= x
					if res, err := v.Verify(ctx, m); err == nil || res != nil {
						t.Fatalf("byte %d ^ %#x accepted", i, x)
					}
				}
			}
			for i := 0; i < pq.Len(); i++ {
				if res, err := v.Verify(ctx, q[:i]); err == nil || res != nil {
					t.Fatalf("truncated to %d accepted", i)
				}
			}
			t.Logf("%d signed bytes flipped, %d truncations", signed, pq.Len())
		})
	}
}
