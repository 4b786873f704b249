package policy

import (
	"context"
	"os"
	"testing"
)

func BenchmarkParseDefaultSGX(b *testing.B) {
	text, _ := Default("SgxEnclave")
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(text); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseTPM12 parses the largest documentation policy (5 KB, 1.2,
// JmesPath queries compiled at parse time).
func BenchmarkParseTPM12(b *testing.B) {
	text, err := os.ReadFile("testdata/examples/tpm-attestation-sample-policies-8.policy")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(string(text)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluateDefaultSGX evaluates the compiled default policy on the
// incoming claims of a real MAA SGX token. Budget: < 10 µs, < 60 allocs.
func BenchmarkEvaluateDefaultSGX(b *testing.B) {
	tok := tokenClaims(b, "testdata/sgx/maa-sgx-shared-default-policy.jwt")
	in := incomingFromToken(b, tok)
	text, _ := Default("SgxEnclave")
	p, err := Parse(text)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, err := p.Evaluate(ctx, in)
		if err != nil || len(res.Claims) != 6 {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluateTPM12 evaluates a 1.2 TPM policy (JmesPath, JsonToClaimValue,
// ContainsOnlyValue, !) over a 100-event TCG log (40 KB of JSON).
func BenchmarkEvaluateTPM12(b *testing.B) {
	events, err := os.ReadFile("testdata/tpm/events-100.json")
	if err != nil {
		b.Fatal(err)
	}
	text, err := os.ReadFile("testdata/examples/tpm-attestation-sample-policies-2.policy")
	if err != nil {
		b.Fatal(err)
	}
	p, err := Parse(string(text))
	if err != nil {
		b.Fatal(err)
	}
	in := []Claim{ServiceClaim("events", String(string(events))), ServiceClaim("aikValidated", Boolean(true))}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, err := p.Evaluate(ctx, in)
		if err != nil || len(res.Claims) != 5 {
			b.Fatal(err, res)
		}
	}
}
