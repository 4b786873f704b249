package keyrelease

import (
	"context"
	"encoding/json"
	"testing"
)

// BenchmarkRelease is one release of an oct-256 key: SQLite read, policy
// parse and evaluation, token validation (RS256), attested-key extraction
// with the report-data check, unsealing (AES-GCM) and the JWE (RSA-OAEP-256
// to an RSA-2048 attested key).
func BenchmarkRelease(b *testing.B) {
	t := &testing.T{}
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.Create(ctx, "db", CreateRequest{ReleasePolicy: json.RawMessage(sgxPolicy)}); err != nil {
		b.Fatal(err)
	}
	e := newEnclave(t)
	tok := f.token(t, e.claims(t))
	for b.Loop() {
		if _, err := f.svc.Release(ctx, "db", ReleaseRequest{Target: tok}); err != nil {
			b.Fatal(err)
		}
	}
}
