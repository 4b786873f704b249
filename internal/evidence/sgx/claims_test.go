package sgx

import (
	"encoding/json"
	"testing"
)

func TestClaimsKSS(t *testing.T) {
	var r Result
	r.Report.Attributes[0] = 0x05 // INIT | MODE64BIT
	c := r.Claims()
	for _, k := range []string{ClaimConfigID, ClaimConfigSVN, ClaimISVExtendedProductID, ClaimISVFamilyID} {
		if _, ok := c[k]; ok {
			t.Errorf("%s present without KSS", k)
		}
	}
	r.Report.Attributes[0] = 0x85 // + KSS
	r.Report.ConfigSVN = 7
	r.Report.ConfigID[0] = 0xab
	r.Report.ISVFamilyID[15] = 1
	c = r.Claims()
	if c[ClaimConfigSVN] != 7 || len(c[ClaimConfigID].(string)) != 128 || c[ClaimConfigID].(string)[:2] != "ab" || c[ClaimISVFamilyID] != "00000000000000000000000000000001" || len(c[ClaimISVExtendedProductID].(string)) != 32 {
		t.Errorf("KSS claims %v", c)
	}
	// Types as MAA emits them: bool, numbers, lower-hex strings, collateral object.
	b, _ := json.Marshal(c)
	var m map[string]any
	json.Unmarshal(b, &m)
	if _, ok := m[ClaimIsDebuggable].(bool); !ok {
		t.Error("is-debuggable not a bool")
	}
	if _, ok := m[ClaimProductID].(float64); !ok {
		t.Error("product-id not a number")
	}
	if len(m[ClaimCollateral].(map[string]any)) != 7 {
		t.Error("x-ms-sgx-collateral does not have the 7 MAA members")
	}
}
