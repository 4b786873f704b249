package policy

import (
	"context"
	"errors"
	"testing"

	"github.com/maat-attest/maat/internal/maaerr"
)

const auth = "authorizationrules{=> permit();};"

// TestDecisions has one case per entry of DECISIONS.md ("Irregular forms").
func TestDecisions(t *testing.T) {
	cases := []struct {
		name, policy string
		err          string // "" = accepted
	}{
		{"1 single = in condition", "version=1.0;\nauthorizationrules{\n  c:[type=\"secureBootEnabled\", issuer==\"AttestationService\"] => permit();\n};",
			`3:10: expected comparison operator, found "=" (a condition compares: write type=="…"; "=" only assigns in actions)`},
		{"2 positional issue type", "version=1.2;" + auth + "issuancerules{\n=> issue(\"PlatformAttested\", value=true);\n};",
			`2:10: expected "type=", "value=" or "claim=", found string "PlatformAttested" (arguments of issue are named: issue(type="…", value=…))`},
		{"3 NegateBol", "version=1.2;" + auth + "issuancerules{\nc:[type==\"Input\"] => add(type=\"Result\", value=NegateBol(c.value));\n};",
			`2:47: unknown function "NegateBol" (did you mean "NegateBool"?)`},
		{"4 ContainsOnlyValue one argument", "version=1.2;" + auth + "issuancerules{\nc:[type==\"Set\"] => add(type=\"Result\", value=ContainsOnlyValue(100));\n};",
			`2:45: function ContainsOnlyValue takes 2 arguments, found 1`},
		{"5 identifier mismatch", "version=1.2;" + auth + "issuancerules{\nc:[type==\"String1\"] && c2:[type==\"String2\"] => add(type=\"Result\", value=AppendString(c1.value, c2.value));\n};",
			`2:86: undefined identifier "c1" (identifiers are bound by an earlier condition of the same rule, as in c1:[type=="…"])`},
		{"6 missing ; between rules", "version=1.0;\nauthorizationrules{\n=> permit()\n=> deny();\n};",
			`4:1: expected ";" after the rule's action, found "=>"`},
		{"6 missing ; before }", "version=1.0;\nauthorizationrules{\n=> permit()\n};",
			`4:1: expected ";" after the rule's action, found "}"`},
		{"6 missing ; before next rule's identifier", "version=1.0;\n" + auth + "issuancerules{\n c:[type==\"a\"]=> issue(claim=c)\n c:[type==\"b\"]=> issue(claim=c);\n};",
			`4:2: expected ";" after the rule's action, found "c"`},
		{"7 keyword case Issuancerules", "version=1.1;\nConfigurationRules{};\nAUTHORIZATIONRULES{=> permit();};\nIssuancerules{\n=> issue(type=\"a\", value=1);\n};", ""},
		{"7 action names stay case-sensitive", "version=1.0;\nauthorizationrules{=> Permit();};",
			`2:23: unknown action "Permit" (actions: permit, deny, add, issue, issueproperty)`},
		{"8 typographic quote", "version = 1.1;\nconfigurationrules\n{\n=> issueproperty (\ntype = \"x-ms-sgx-tcbidentifier\", value = \"11”\n);\n};\n" + auth,
			`5:42: unterminated string literal (a typographic quote ” is not a string delimiter; use '"')`},
		{"9 condition without type", "version=1.0;\nauthorizationrules {\nc: [type==\"$is-debuggable\"] && [value==true] => deny();\n=> permit();\n};", ""},
		{"10 issue in authorizationrules", "version=1.2;\nauthorizationrules{\n=> issue(type=\"a\", value=1);\n};",
			`3:4: action issue is not allowed in authorizationrules (allowed: permit, deny, add)`},
		{"11 placeholder", "version=1.0;\nauthorizationrules{\n[type==\"x-ms-sgx-product-id\", value==<product-id>] => permit();\n};",
			`3:38: expected a value (string, integer, true, false, ident.property or function call), found "<"`},
		{"13 markdown escape in string", "version=1.2;" + auth + "issuancerules{\nc:[type==\"p\"] => add(type=\"w\", value=JsonToClaimValue(JmesPath(c.value, \"\\[\\*\\].EVENT_WINPE\")));\n};",
			`2:74: unknown escape sequence \[ in string literal (allowed: \" \\ \/ \b \f \n \r \t \uXXXX)`},
		{"14 rule without its binding condition", "version=1.2;" + auth + "issuancerules{\n=> issue(type = \"secureBootEnabled\", value = JsonToClaimValue(JmesPath(c.value, \"a\")));\n};",
			`2:72: undefined identifier "c" (identifiers are bound by an earlier condition of the same rule, as in c:[type=="…"])`},
		{"12 unsupported version", "version=1.3;" + auth,
			`1:9: unsupported policy version 1.3 (supported: 1.0, 1.1, 1.2)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.policy)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want %s", tc.err)
			}
			if err.Error() != tc.err {
				t.Fatalf("error\n got %s\nwant %s", err, tc.err)
			}
		})
	}
}

// TestDecisionCaseInsensitiveSections checks the accepted mixed-case policy
// also evaluates.
func TestDecisionCaseInsensitiveSections(t *testing.T) {
	p, err := Parse("version=1.1;\nConfigurationRules{};\nAUTHORIZATIONRULES{=> permit();};\nIssuancerules{\n=> issue(type=\"a\", value=1);\n};")
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Evaluate(context.Background(), nil)
	if err != nil || res.ClaimsJSON()["a"] != int64(1) {
		t.Fatalf("res %+v err %v", res, err)
	}
}

// TestAuthorizationDecisions: no permit fired, permit and deny both fired.
func TestAuthorizationDecisions(t *testing.T) {
	in := []Claim{ServiceClaim("debug", Boolean(true))}
	cases := []struct {
		name, rules       string
		authorized        bool
		msg               string
		permitted, denied bool
	}{
		{"permit", "=> permit();", true, "", true, false},
		{"no rule fired", "[type==\"debug\", value==false] => permit();", false, MsgNoPermit, false, false},
		{"empty section", "", false, MsgNoPermit, false, false},
		{"deny only", "=> deny();", false, MsgDenyIssued, false, true},
		{"permit then deny", "=> permit(); [type==\"debug\", value==true] => deny();", false, MsgDenyIssued, true, true},
		{"deny then permit", "[type==\"debug\", value==true] => deny(); => permit();", false, MsgDenyIssued, false, true},
		{"deny not fired", "[type==\"debug\", value==false] => deny(); => permit();", true, "", true, false},
		{"add only", "=> add(type=\"x\", value=1);", false, MsgNoPermit, false, false},
		{"add feeds permit", "=> add(type=\"x\", value=1); [type==\"x\", value==1, issuer==\"AttestationPolicy\"] => permit();", true, "", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("version=1.0; authorizationrules{" + tc.rules + "}; issuancerules{ => issue(type=\"out\", value=true); };")
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.Evaluate(context.Background(), in)
			if res == nil {
				t.Fatalf("nil result, err %v", err)
			}
			if res.Authorized != tc.authorized || res.PermitFired != tc.permitted || res.DenyFired != tc.denied {
				t.Fatalf("got authorized=%v permit=%v deny=%v", res.Authorized, res.PermitFired, res.DenyFired)
			}
			if tc.authorized {
				if err != nil || len(res.Claims) != 1 {
					t.Fatalf("err %v claims %v", err, res.Claims)
				}
				return
			}
			if len(res.Claims) != 0 {
				t.Errorf("issuancerules ran although not authorized: %v", res.Claims)
			}
			var me *maaerr.Error
			if !errors.Is(err, ErrNotAuthorized) || !errors.As(err, &me) || me.Code != maaerr.PolicyEvaluationError || me.Message != tc.msg {
				t.Fatalf("err = %v; want PolicyEvaluationError %q wrapping ErrNotAuthorized", err, tc.msg)
			}
		})
	}
}
