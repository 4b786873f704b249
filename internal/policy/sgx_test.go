package policy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// tokenClaims decodes the payload of a JWT without verifying it: the token
// is a fixture recorded from MAA, used here only as ground truth for claims.
func tokenClaims(t testing.TB, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimSpace(string(raw)), ".")
	if len(parts) != 3 {
		t.Fatalf("%s: not a JWS", path)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// incomingFromToken rebuilds the incoming claims MAA's policy engine saw:
// the x-ms-sgx-* claims and x-ms-attestation-type.
func incomingFromToken(t testing.TB, tok map[string]any) []Claim {
	t.Helper()
	obj := map[string]any{}
	for k, v := range tok {
		if strings.HasPrefix(k, "x-ms-sgx-") || k == "x-ms-attestation-type" {
			obj[k] = v
		}
	}
	// Deterministic order.
	keys := slices.Sorted(maps.Keys(obj))
	var b strings.Builder
	b.WriteString("{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(",")
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(obj[k])
		b.Write(kb)
		b.WriteString(":")
		b.Write(vb)
	}
	b.WriteString("}")
	claims, err := ClaimsFromJSON([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return claims
}

// normalize makes json.Number and int64 comparable.
func normalize(v any) any {
	b, _ := json.Marshal(v)
	var out any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	_ = dec.Decode(&out)
	return out
}

func TestDefaultPolicyOnRealMAATokens(t *testing.T) {
	for _, tc := range []struct{ file, typ string }{
		{"testdata/sgx/maa-sgx-shared-default-policy.jwt", "SgxEnclave"},
		{"testdata/sgx/maa-oe-shared-default-policy.jwt", "OpenEnclave"},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			tok := tokenClaims(t, tc.file)
			text, ok := Default(tc.typ)
			if !ok {
				t.Fatalf("no default policy for %s", tc.typ)
			}
			if got := Hash(text); got != tok["x-ms-policy-hash"] || got != DefaultSGXPolicyHash {
				t.Fatalf("Hash(default) = %s, token says %v", got, tok["x-ms-policy-hash"])
			}
			p, err := Parse(text)
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.Evaluate(context.Background(), incomingFromToken(t, tok))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Authorized {
				t.Fatal("default policy did not authorize")
			}
			got := normalize(res.ClaimsJSON())
			// Exactly the legacy claims, as MAA put them in the token and in x-ms-policy.
			want := map[string]any{}
			for _, k := range []string{"is-debuggable", "sgx-mrsigner", "sgx-mrenclave", "product-id", "svn", "tee"} {
				v, ok := tok[k]
				if !ok {
					t.Fatalf("token has no %s", k)
				}
				want[k] = v
			}
			if !reflect.DeepEqual(got, normalize(want)) {
				t.Errorf("issued claims\n got %v\nwant %v", got, want)
			}
			if !reflect.DeepEqual(got, normalize(tok["x-ms-policy"])) {
				t.Errorf("issued claims differ from the token's x-ms-policy\n got %v\nwant %v", got, tok["x-ms-policy"])
			}
			if v, ok := res.Property("x-ms-sgx-tcbidentifier"); !ok || v.Interface() != tok["x-ms-sgx-tcbidentifier"] {
				t.Errorf("property x-ms-sgx-tcbidentifier = %v, token says %v", v, tok["x-ms-sgx-tcbidentifier"])
			}
		})
	}
}

func TestDefault(t *testing.T) {
	served, err := os.ReadFile("testdata/examples/recording-default-sgx.policy")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"SgxEnclave", "OpenEnclave", "sgxenclave", "OPENENCLAVE"} {
		text, ok := Default(typ)
		if !ok || text != string(served) {
			t.Errorf("Default(%q) = %q, %v; want the text MAA serves", typ, text, ok)
		}
	}
	for _, typ := range []string{"Tpm", ""} { // SevSnpVm and TdxVm have Maat's D7 default
		if text, ok := Default(typ); ok || text != "" {
			t.Errorf("Default(%q) = %q, %v; want none", typ, text, ok)
		}
	}
}

func TestHash(t *testing.T) {
	cases := map[string]string{
		// x-ms-policy-hash of the draft policy in AttestWithDraftPolicy (cpp recordings).
		"testdata/examples/recording-draft-permit.policy": "1wKUrF_E0X5CZUM9OMIF1PH3qn5iykWY_bWgBbiWJZ0",
		"testdata/examples/recording-default-sgx.policy":  DefaultSGXPolicyHash,
	}
	for file, want := range cases {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := Hash(string(b)); got != want {
			t.Errorf("Hash(%s) = %s, want %s", file, got, want)
		}
		p, err := Parse(string(b))
		if err != nil {
			t.Fatal(err)
		}
		if p.Hash() != want {
			t.Errorf("Policy.Hash(%s) = %s, want %s", file, p.Hash(), want)
		}
	}
}

func TestParsedDefault(t *testing.T) {
	p, ok := ParsedDefault("OpenEnclave")
	q, ok2 := ParsedDefault("SgxEnclave")
	if !ok || !ok2 || p != q || p.Hash() != DefaultSGXPolicyHash {
		t.Fatalf("ParsedDefault: %v %v", ok, ok2)
	}
	if p, ok := ParsedDefault("Tpm"); ok || p != nil {
		t.Fatal("ParsedDefault(Tpm) returned a policy")
	}
}

func TestDefaultSevSnpVm(t *testing.T) {
	p, ok := ParsedDefault("sevsnpvm")
	if !ok || p.Hash() != DefaultSevSnpVmPolicyHash || p.Hash() == MAASevSnpVmDefaultPolicyHash {
		t.Fatalf("SevSnpVm default: %v %s", ok, p.Hash())
	}
	if q, _ := ParsedDefault("SgxEnclave"); q == p {
		t.Fatal("SevSnpVm shares the SGX default")
	}
	res, err := p.Evaluate(t.Context(), nil)
	if err != nil || len(res.ClaimsJSON()) != 0 {
		t.Fatalf("SevSnpVm default issues claims: %v %v", err, res)
	}
}
