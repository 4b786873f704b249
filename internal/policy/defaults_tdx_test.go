package policy

import (
	"context"
	"testing"
)

// Maat's TdxVm default (D7): permit, issue nothing; its hash is Maat's own.
func TestDefaultTDXPolicy(t *testing.T) {
	text, ok := Default("tdxvm")
	if !ok || text != "version= 1.0;authorizationrules{=> permit();};issuancerules{};" {
		t.Fatalf("%q %v", text, ok)
	}
	if Hash(text) != DefaultTDXPolicyHash {
		t.Errorf("hash %s", Hash(text))
	}
	p, ok := ParsedDefault("TdxVm")
	if !ok || p.Hash() != DefaultTDXPolicyHash {
		t.Fatalf("parsed %v", ok)
	}
	res, err := p.Evaluate(context.Background(), []Claim{ServiceClaim("x-ms-attestation-type", String("tdxvm"))})
	if err != nil || len(res.ClaimsJSON()) != 0 {
		t.Errorf("%v %v", res.ClaimsJSON(), err)
	}
	if sgx, _ := ParsedDefault("SgxEnclave"); sgx.Hash() != DefaultSGXPolicyHash {
		t.Error("SGX default changed")
	}
}
