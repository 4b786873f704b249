package policy

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/maaerr"
)

var update = flag.Bool("update", false, "rewrite golden files")

// rejectedExamples are the documentation examples that do not parse, with
// the exact error; DECISIONS.md explains each. Every other example must parse.
var rejectedExamples = map[string]string{
	// DECISIONS #1: single "=" in a condition (also lacks ";" after its rules, #6).
	"author-sign-policy-1.policy": `4:12: expected comparison operator, found "=" (a condition compares: write type=="…"; "=" only assigns in actions)`,
	// DECISIONS #1: issuer="AttestationPolicy" in the 1.2 functions sample.
	"claim-rule-functions-1.policy": `13:38: expected comparison operator, found "=" (a condition compares: write issuer=="…"; "=" only assigns in actions)`,
	// DECISIONS #8: typographic closing quote.
	"custom-tcb-baseline-enforcement-1.policy": `5:42: unterminated string literal (a typographic quote ” is not a string delimiter; use '"')`,
	// DECISIONS #11: placeholder <product-id>.
	"policy-examples-1.policy": `5:50: expected a value (string, integer, true, false, ident.property or function call), found "<"`,
	// DECISIONS #2: positional issue("PlatformAttested", ...).
	"policy-version-1-2-1.policy": `23:51: expected "type=", "value=" or "claim=", found string "PlatformAttested" (arguments of issue are named: issue(type="…", value=…))`,
	// DECISIONS #10: issue() in authorizationrules.
	"tpm-attestation-sample-policies-10.policy": `8:78: action issue is not allowed in authorizationrules (allowed: permit, deny, add)`,
}

func exampleFiles(t testing.TB) []string {
	files, err := filepath.Glob("testdata/examples/*.policy")
	if err != nil || len(files) < 30 {
		t.Fatalf("example policies missing: %v (%d files)", err, len(files))
	}
	return files
}

func TestExamples(t *testing.T) {
	seen := map[string]bool{}
	for _, file := range exampleFiles(t) {
		name := filepath.Base(file)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(string(b))
			if want, rejected := rejectedExamples[name]; rejected {
				if err == nil {
					t.Fatalf("parsed; want rejection %q", want)
				}
				if err.Error() != want {
					t.Fatalf("error\n got %s\nwant %s", err, want)
				}
				var pe *ParseError
				var me *maaerr.Error
				if !errors.As(err, &pe) || !errors.As(err, &me) || me.Code != maaerr.PolicyParsingError {
					t.Fatalf("error %v is not a *ParseError wrapping PolicyParsingError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			golden := strings.TrimSuffix(file, ".policy") + ".ast"
			got := p.AST().String()
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("golden AST: %v (run with -update)", err)
			}
			if got != string(want) {
				t.Errorf("AST differs from %s:\n%s", golden, got)
			}
			// The canonical form is itself a policy with the same tree.
			p2, err := Parse(got)
			if err != nil {
				t.Fatalf("canonical form does not parse: %v\n%s", err, got)
			}
			if p2.AST().String() != got {
				t.Errorf("canonical form is not a fixed point")
			}
		})
	}
	for name := range rejectedExamples {
		if !seen[name] {
			t.Errorf("rejectedExamples names missing file %s", name)
		}
	}
}

// universalClaims is one incoming claim set for golden evaluation of every
// example: the SGX claims of a real MAA token, and TPM/VBS claims with the
// synthetic event log and PCRs (read-only, as MAA treats "pcrs").
func universalClaims(t testing.TB) []Claim {
	t.Helper()
	tok := tokenClaims(t, "testdata/sgx/maa-sgx-shared-default-policy.jwt")
	in := incomingFromToken(t, tok)
	for _, k := range []string{"is-debuggable", "sgx-mrsigner", "sgx-mrenclave", "product-id", "svn", "tee"} {
		c, err := ClaimsFromJSON([]byte(mustJSON(map[string]any{"$" + k: tok[k]})))
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, c...)
	}
	in = append(in, claimsOf(t, `{"aikValidated":true,"aikPubHash":"c2hhMjU2","tpmVersion":2,"secureBootEnabled":true,
		"iommuEnabled":true,"bootDebuggingDisabled":true,"notSafeMode":true,"notWinPE":true,"vbsEnabled":true,
		"vbsReportPresent":true,"vsmReportPresent":true,"enclaveAuthorId":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"enclaveImageId":"AQEAAAAAAAAAAAAAAAAAAA","enclaveSvn":1,"enclavePlatformSvn":1,"enclaveFlags":0,
		"x-ms-tpm-request-key":{"jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"},"info":{"tpm_certify":{"obj_attr":50,"name_alg":11,"auth_policy":"AQIDBA"},"tpm_quote":{"hash_alg":"sha-256"}}},
		"x-ms-tpm-other-keys":[{"jwk":{"kty":"RSA"}}]}`)...)
	events, err := os.ReadFile("testdata/tpm/events-100.json")
	if err != nil {
		t.Fatal(err)
	}
	pcrs, err := os.ReadFile("testdata/tpm/pcrs.json")
	if err != nil {
		t.Fatal(err)
	}
	in = append(in, ServiceClaim("events", String(string(events))),
		Claim{Type: "pcrs", Value: String(string(pcrs)), Issuer: IssuerService, ReadOnly: true})
	return in
}

// TestExamplesEvaluate evaluates every accepted example on universalClaims
// and compares with the golden result NAME.eval.json.
func TestExamplesEvaluate(t *testing.T) {
	in := universalClaims(t)
	for _, file := range exampleFiles(t) {
		name := filepath.Base(file)
		if _, rejected := rejectedExamples[name]; rejected {
			continue
		}
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(string(b))
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.Evaluate(context.Background(), in)
			out := map[string]any{}
			if res != nil {
				out["authorized"] = res.Authorized
				out["claims"] = res.ClaimsJSON()
				out["properties"] = res.PropertiesJSON()
			}
			if err != nil {
				out["error"] = err.Error()
			}
			got, _ := json.MarshalIndent(out, "", " ")
			golden := strings.TrimSuffix(file, ".policy") + ".eval.json"
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("golden: %v (run with -update)", err)
			}
			if string(got)+"\n" != string(want) {
				t.Errorf("result differs from %s:\n%s", golden, got)
			}
		})
	}
}

// rejectedFragments are rows of the rule table in policy-version-1-2.md that
// do not parse (DECISIONS.md #13, #14).
var rejectedFragments = map[string]string{
	"policy-version-1-2-table-01-secure-boot.rules":             `3:73: undefined identifier "c" (identifiers are bound by an earlier condition of the same rule, as in c:[type=="…"])`,
	"policy-version-1-2-table-09-virtual-secure-mode-vbs.rules": `4:130: unknown escape sequence \[ in string literal (allowed: \" \\ \/ \b \f \n \r \t \uXXXX)`,
	"policy-version-1-2-table-15-winpe-boot.rules":              `4:130: unknown escape sequence \[ in string literal (allowed: \" \\ \/ \b \f \n \r \t \uXXXX)`,
}

// TestDocRuleTable parses every row of the rule table in policy-version-1-2.md,
// wrapped in a 1.2 policy (rules start on line 2), and evaluates the accepted
// ones on universalClaims.
func TestDocRuleTable(t *testing.T) {
	files, err := filepath.Glob("testdata/fragments/*.rules")
	if err != nil || len(files) != 20 {
		t.Fatalf("fragments: %v, %d files", err, len(files))
	}
	in := universalClaims(t)
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse("version=1.2;authorizationrules{=> permit();};issuancerules{\n" + string(b) + "};")
			if want, ok := rejectedFragments[name]; ok {
				if err == nil || err.Error() != want {
					t.Fatalf("error\n got %v\nwant %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Evaluate(context.Background(), in); err != nil {
				t.Fatalf("evaluate: %v", err)
			}
		})
	}
}
