package policy

import (
	"context"
	"testing"
)

// Maat's AzureGuest default (D7): permit only with secureboot true, issue
// nothing; its hash differs from MAA's.
func TestDefaultAzureGuestPolicy(t *testing.T) {
	p, ok := ParsedDefault("azureguest")
	if !ok {
		t.Fatal("no AzureGuest default")
	}
	if p.Hash() == MAAAzureGuestDefaultPolicyHash || p.Hash() != "DY2z2GN_Pe6vMAX6bePkl_A8UCutjkUXOD2yCXQWOuY" {
		t.Fatalf("hash %s", p.Hash())
	}
	res, err := p.Evaluate(context.Background(), []Claim{ServiceClaim("secureboot", Boolean(true))})
	if err != nil || len(res.ClaimsJSON()) != 0 {
		t.Fatalf("secure boot on: %v %v", res, err)
	}
	for _, in := range [][]Claim{{ServiceClaim("secureboot", Boolean(false))}, nil} {
		if _, err := p.Evaluate(context.Background(), in); err == nil {
			t.Fatalf("permitted %v", in)
		}
	}
}
