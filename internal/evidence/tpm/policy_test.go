//go:build simulator

package tpm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/evidence/tpm"
	"github.com/maat-attest/maat/internal/policy"
)

// toPolicyClaims converts a Result into the policy engine's incoming claims,
// the way the attestation pipeline does.
func toPolicyClaims(t *testing.T, r *tpm.Result) []policy.Claim {
	t.Helper()
	var out []policy.Claim
	add := func(typ, issuer string, v any) {
		var pv policy.Value
		switch x := v.(type) {
		case bool:
			pv = policy.Boolean(x)
		case int64:
			pv = policy.Integer(x)
		case string:
			pv = policy.String(x)
		default:
			t.Fatalf("claim %s has type %T", typ, v)
		}
		ro := false
		for _, r := range tpm.ReadOnlyClaims {
			ro = ro || r == typ
		}
		out = append(out, policy.Claim{Type: typ, Value: pv, Issuer: issuer, ReadOnly: ro})
	}
	keys := make([]string, 0, len(r.Claims))
	for k := range r.Claims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k, policy.IssuerService, r.Claims[k])
	}
	for k, v := range r.CustomClaims {
		add(k, policy.IssuerCustom, v)
	}
	return out
}

// TestMAASamplePolicies runs MAA's documented TPM sample policies, unchanged,
// over the claims of a simulator attestation.
func TestMAASamplePolicies(t *testing.T) {
	f := getFixture(t)
	svc, _ := newTestService(t, f)
	req := f.build(t, svc, reqOpts{})
	res, err := svc.Verify(context.Background(), req.jws, tpm.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	incoming := toPolicyClaims(t, res)
	var pcr0 string
	for _, p := range res.PCRs {
		if p.Index == 0 {
			pcr0 = p.Digests["SHA256"]
		}
	}

	for _, tc := range []struct {
		file   string
		edit   func(string) string
		issued map[string]any
	}{
		{file: "sample_policy_1_0.txt", issued: map[string]any{"PlatformAttested": true}},
		{file: "sample_policy_1_2_boot.txt", issued: map[string]any{
			"aikValidated": true, "SecureBootEnabled": true, "CodeIntegrityEnabled": true,
			"BitlockerStatus": false, "ELAMDriverLoaded": true,
		}},
		{file: "sample_policy_1_2_windows.txt", issued: map[string]any{
			"secureBootEnabled": true, "vbsEnabled": "[true true]", "drtmMleValid": false, // the sample issues vbsEnabled twice
		}},
		{file: "sample_policy_1_2_pcrs.txt", edit: func(s string) string {
			// The sample pins its authors' PCRs 0-3; pin ours instead.
			lines := strings.Split(s, "\n")
			for i, l := range lines {
				for _, p := range res.PCRs[:4] {
					if strings.Contains(l, fmt.Sprintf("Index == `%d`]", p.Index)) {
						lines[i] = hex64.ReplaceAllString(l, p.Digests["SHA256"])
					}
				}
			}
			return strings.Join(lines, "\n")
		}},
		{file: "sample_policy_1_2_all_incoming.txt"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := readTestdata(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			text := string(raw)
			if tc.edit != nil {
				text = tc.edit(text)
			}
			p, err := policy.Parse(text)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			out, err := p.Evaluate(context.Background(), incoming)
			if err != nil {
				t.Fatalf("evaluate: %v", err)
			}
			if !out.Authorized {
				t.Fatalf("not authorized")
			}
			got := out.ClaimsJSON()
			for k, want := range tc.issued {
				if fmt.Sprint(got[k]) != fmt.Sprint(want) {
					t.Errorf("issued %s = %v, want %v", k, got[k], want)
				}
			}
			if tc.file == "sample_policy_1_2_all_incoming.txt" {
				b, _ := json.Marshal(got["outputEvents"])
				if !strings.Contains(string(b), "SecureBoot") {
					t.Errorf("outputEvents = %.200s", b)
				}
			}
		})
	}
	_ = pcr0
	if !hex64.MatchString(pcr0) {
		t.Errorf("PCR 0 SHA256 = %q, want 64 hex digits", pcr0)
	}
}

var hex64 = regexp.MustCompile(`[0-9a-f]{64}`)
