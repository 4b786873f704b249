package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/maat-attest/maat/internal/maaerr"
)

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// claimsOf builds incoming claims from a JSON object (see ClaimsFromJSON).
func claimsOf(t testing.TB, js string) []Claim {
	t.Helper()
	c, err := ClaimsFromJSON([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// run evaluates issuance rules (version 1.2, authorization permits).
func run(t testing.TB, rules string, in []Claim) (*Result, error) {
	t.Helper()
	p, err := Parse("version=1.2; authorizationrules{=> permit();}; issuancerules{\n" + rules + "\n};")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return p.Evaluate(context.Background(), in)
}

type evalCase struct {
	name   string
	in     string // incoming claims as a JSON object ("" = none)
	rules  string
	out    string // ClaimsJSON as canonical JSON; ignored when err != ""
	err    string // substring of the evaluation error
	inList []Claim
}

func runCases(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.inList
			if tc.in != "" {
				in = claimsOf(t, tc.in)
			}
			res, err := run(t, tc.rules, in)
			if tc.err != "" {
				if err == nil {
					t.Fatalf("no error; claims %s", mustJSON(res.ClaimsJSON()))
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error\n got %v\nwant …%s…", err, tc.err)
				}
				var ee *EvalError
				var me *maaerr.Error
				if !errors.As(err, &ee) || !errors.As(err, &me) || me.Code != maaerr.PolicyEvaluationError {
					t.Fatalf("error %T does not unwrap to EvalError/PolicyEvaluationError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("eval: %v", err)
			}
			if got := mustJSON(res.ClaimsJSON()); got != tc.out {
				t.Fatalf("claims\n got %s\nwant %s", got, tc.out)
			}
		})
	}
}

const typed = `{"i":5,"s":"abc","b":true,"neg":-3}`

func TestOperators(t *testing.T) {
	var cases []evalCase
	add := func(cond string, want bool) {
		out := `{}`
		if want {
			out = `{"hit":true}`
		}
		cases = append(cases, evalCase{name: cond, in: typed, rules: cond + ` => issue(type="hit", value=true);`, out: out})
	}
	// Integer: all six operators, both outcomes.
	add(`[type=="i", value==5]`, true)
	add(`[type=="i", value==4]`, false)
	add(`[type=="i", value!=4]`, true)
	add(`[type=="i", value!=5]`, false)
	add(`[type=="i", value<6]`, true)
	add(`[type=="i", value<5]`, false)
	add(`[type=="i", value<=5]`, true)
	add(`[type=="i", value<=4]`, false)
	add(`[type=="i", value>4]`, true)
	add(`[type=="i", value>5]`, false)
	add(`[type=="i", value>=5]`, true)
	add(`[type=="i", value>=6]`, false)
	add(`[type=="neg", value<0]`, true)
	add(`[type=="neg", value>=-3]`, true)
	// String.
	add(`[type=="s", value=="abc"]`, true)
	add(`[type=="s", value=="ABC"]`, false)
	add(`[type=="s", value!="x"]`, true)
	add(`[type=="s", value!="abc"]`, false)
	// Boolean.
	add(`[type=="b", value==true]`, true)
	add(`[type=="b", value==false]`, false)
	add(`[type=="b", value!=false]`, true)
	add(`[type=="b", value!=true]`, false)
	// Different types never compare equal; ordering needs integers.
	add(`[type=="i", value=="5"]`, false)
	add(`[type=="i", value!="5"]`, true)
	add(`[type=="b", value==1]`, false)
	add(`[type=="s", value>0]`, false)
	add(`[type=="b", value<=1]`, false)
	// type, issuer, valueType properties.
	add(`[type=="S"]`, false)
	add(`[type!="i", value==5]`, false)
	add(`[type=="i", issuer=="AttestationService"]`, true)
	add(`[type=="i", issuer=="AttestationPolicy"]`, false)
	add(`[type=="i", issuer!="CustomClaim"]`, true)
	add(`[type=="i", valueType=="Integer"]`, true)
	add(`[type=="s", valueType=="String"]`, true)
	add(`[type=="b", valueType=="Boolean"]`, true)
	add(`[type=="b", valueType!="Boolean"]`, false)
	// A condition needs one claim satisfying all property conditions.
	add(`[value==5, valueType=="Integer"]`, true)
	add(`[type=="s", value==5]`, false)
	add(`[value==true]`, true)
	// && needs every condition.
	add(`[type=="i"] && [type=="s"]`, true)
	add(`[type=="i"] && [type=="nope"]`, false)
	// ! (1.2): holds when no claim matches.
	add(`![type=="nope"]`, true)
	add(`![type=="i"]`, false)
	add(`![type=="i", value==6]`, true)
	add(`[type=="i"] && ![type=="s", value=="x"]`, true)
	runCases(t, cases)
}

func TestIdentifiersAndActions(t *testing.T) {
	osName := []Claim{
		{Type: "OSName", Value: String("Windows"), Issuer: IssuerCustom},
		{Type: "OSName", Value: String("Windows"), Issuer: IssuerService},
		{Type: "OSName", Value: String("Linux"), Issuer: IssuerService},
	}
	runCases(t, []evalCase{
		// claim-rule-grammar.md: F1 binds the custom claim, C2 the service claim with the same value.
		{name: "binding across conditions", inList: osName,
			rules: `F1:[type=="OSName", issuer=="CustomClaim"] && C2:[type=="OSName", issuer=="AttestationService", value==F1.value] => issue(claim=C2);`,
			out:   `{"OSName":"Windows"}`},
		{name: "binding keeps issuer of issued claim", inList: osName,
			rules: `F1:[type=="OSName", issuer=="CustomClaim"] && C2:[type=="OSName", issuer=="AttestationService", value!=F1.value] => issue(claim=C2);
			        c:[type=="OSName", issuer=="AttestationService"] => issue(type="issuers", value=c.issuer);`,
			out: `{"OSName":"Linux","issuers":["AttestationService","AttestationService"]}`},
		{name: "identifier binds all matches (Set)", inList: osName,
			rules: `c:[type=="OSName"] => issue(type="os", value=c.value);`,
			out:   `{"os":["Windows","Windows","Linux"]}`},
		{name: "reference properties", inList: osName,
			rules: `c:[type=="OSName", value=="Linux"] => issue(type=c.type, value=c.valueType);`,
			out:   `{"OSName":"String"}`},
		{name: "comparison against a Set: == some element", inList: osName,
			rules: `c:[type=="OSName", issuer=="AttestationService"] && d:[type=="OSName", issuer=="CustomClaim", value==c.value] => issue(type="hit", value=true);`,
			out:   `{"hit":true}`},
		{name: "comparison against a Set: != every element", inList: osName,
			rules: `c:[type=="OSName", issuer=="AttestationService"] && [type=="OSName", value!=c.value] => issue(type="hit", value=true);`,
			out:   `{}`},
		{name: "rule without conditions always fires", rules: `=> issue(type="SecurityLevelValue", value=100);`,
			out: `{"SecurityLevelValue":100}`},
		{name: "add extends incoming only", in: `{"a":1}`,
			rules: `c:[type=="a"] => add(type="b", value=c.value);
			        c:[type=="b", issuer=="AttestationPolicy"] => issue(type="c", value=c.value);`,
			out: `{"c":1}`},
		{name: "issue extends incoming and outgoing", in: `{"a":1}`,
			rules: `c:[type=="a"] => issue(type="b", value=c.value);
			        c:[type=="b", issuer=="AttestationPolicy", valueType=="Integer"] => issue(type="c", value=c.value);`,
			out: `{"b":1,"c":1}`},
		{name: "rules run in order: later claims are invisible to earlier rules", in: `{"a":1}`,
			rules: `[type=="b"] => issue(type="seen-b", value=true);
			        => add(type="b", value=2);
			        [type=="b"] => issue(type="seen-b-later", value=true);`,
			out: `{"seen-b-later":true}`},
		{name: "issue of a type twice keeps both, in order (JSON array)",
			rules: `=> issue(type="x", value=1); => issue(type="x", value="two"); => issue(type="y", value=false);`,
			out:   `{"x":[1,"two"],"y":false}`},
		{name: "issued literal gets issuer AttestationPolicy",
			rules: `=> add(type="x", value=1); c:[type=="x"] => issue(type="iss", value=c.issuer);`,
			out:   `{"iss":"AttestationPolicy"}`},
		{name: "issue(claim=c) issues every bound claim", in: `{"a":1}`,
			inList: nil, rules: `=> add(type="a", value=2); c:[type=="a"] => issue(claim=c);`,
			out: `{"a":[1,2]}`},
		{name: "issue(claim=c) does not duplicate in incoming", in: `{"a":1}`,
			rules: `c:[type=="a"] => issue(claim=c); c:[type=="a"] => issue(type="n", value=c.value);`,
			out:   `{"a":1,"n":1}`},
		{name: "add(claim=c)", in: `{"a":1}`,
			rules: `c:[type=="a"] => add(claim=c); c:[type=="a"] => issue(type="n", value=c.value);`,
			out:   `{"n":[1,1]}`},
		{name: "JSON-valued incoming claims are strings", in: `{"j":{"k":[1,2]}}`,
			rules: `c:[type=="j", valueType=="String"] => issue(type="j", value=c.value);`,
			out:   `{"j":"{\"k\":[1,2]}"}`},
	})
}

func TestFunctions(t *testing.T) {
	runCases(t, []evalCase{
		// JmesPath (claim-rule-functions.md examples).
		{name: "JmesPath literal", rules: `=> issue(type="JmesPathResult", value=JmesPath("{\"foo\": \"bar\"}", "foo"));`,
			out: `{"JmesPathResult":"\"bar\""}`},
		{name: "JmesPath from claims", in: `{"JsonData":"{\"values\": [0,1,2,3,4]}","JmesPathQuery":"values[2]"}`,
			rules: `c1:[type=="JsonData"] && c2:[type=="JmesPathQuery"] => issue(type="JmesPathResult", value=JmesPath(c1.value, c2.value));`,
			out:   `{"JmesPathResult":"2"}`},
		{name: "JmesPath object result is compact JSON", rules: `=> issue(type="r", value=JmesPath("{\"a\":{\"y\":1,\"x\":\"<&>\"}}", "a"));`,
			out: `{"r":"{\"x\":\"\u003c\u0026\u003e\",\"y\":1}"}`},
		{name: "JmesPath missing field is null", rules: `=> issue(type="r", value=JmesPath("{}", "a.b"));`, out: `{"r":"null"}`},
		{name: "JmesPath equals_ignore_case", rules: `=> issue(type="r", value=JmesPath("[{\"p\":\"\\\\Windows\\\\WdBoot.sys\"},{}]", "[?equals_ignore_case(p, '\\windows\\wdboot.sys')] | length(@)"));`,
			out: `{"r":"1"}`},
		{name: "JmesPath invalid JSON", rules: `=> issue(type="r", value=JmesPath("{", "a"));`, err: "JmesPath: the first argument is not valid JSON"},
		{name: "JmesPath empty JSON", rules: `=> issue(type="r", value=JmesPath("", "a"));`, err: "JmesPath: the JSON argument is empty"},
		{name: "JmesPath empty dynamic query", in: `{"q":""}`, rules: `c:[type=="q"] => issue(type="r", value=JmesPath("{}", c.value));`, err: "JmesPath: the query argument is empty"},
		{name: "JmesPath invalid dynamic query", in: `{"q":"a["}`, rules: `c:[type=="q"] => issue(type="r", value=JmesPath("{}", c.value));`, err: "JmesPath: invalid query"},
		{name: "JmesPath on an Integer", in: `{"n":1}`, rules: `c:[type=="n"] => issue(type="r", value=JmesPath(c.value, "a"));`, err: "argument 1 of JmesPath must be a String, found Integer 1"},
		{name: "JmesPath on a Set", in: `{"a":"{}"}`, rules: `=> add(type="a", value="{}"); c:[type=="a"] => issue(type="r", value=JmesPath(c.value, "a"));`, err: "argument 1 of JmesPath must be a single value, found a set of 2 values"},
		{name: "JmesPath runtime type error", rules: `=> issue(type="r", value=JmesPath("{\"a\":1}", "length(a)"));`, err: "JmesPath: "},
		// JsonToClaimValue.
		{name: "JsonToClaimValue scalars", in: `{"JsonIntegerData":"100","JsonBooleanData":"true","JsonStringData":"\"abc\""}`,
			rules: `c:[type=="JsonIntegerData"] => issue(type="IntegerResult", value=JsonToClaimValue(c.value));
			        c:[type=="JsonBooleanData"] => issue(type="BooleanResult", value=JsonToClaimValue(c.value));
			        c:[type=="JsonStringData"] => issue(type="StringResult", value=JsonToClaimValue(c.value));
			        c:[type=="IntegerResult", valueType=="Integer"] && d:[type=="BooleanResult", valueType=="Boolean"] => issue(type="typed", value=true);`,
			out: `{"BooleanResult":true,"IntegerResult":100,"StringResult":"abc","typed":true}`},
		{name: "JsonToClaimValue array is a Set", in: `{"JsonData":"[0, \"abc\", true, null, 0]"}`,
			rules: `c:[type=="JsonData"] => issue(type="Result", value=JsonToClaimValue(c.value));`,
			out:   `{"Result":[0,"abc",true,0]}`},
		{name: "JsonToClaimValue null is a no-op", in: `{"JsonData":"null"}`,
			rules: `c:[type=="JsonData"] => add(type="Result", value=JsonToClaimValue(c.value)); ![type=="Result"] => issue(type="absent", value=true);`,
			out:   `{"absent":true}`},
		{name: "JsonToClaimValue empty array is a no-op", rules: `=> issue(type="r", value=JsonToClaimValue("[]"));`, out: `{}`},
		{name: "JsonToClaimValue integral float", rules: `=> issue(type="r", value=JsonToClaimValue("1.0")); => issue(type="e", value=JsonToClaimValue("1e3"));`, out: `{"e":1000,"r":1}`},
		{name: "JsonToClaimValue fraction", rules: `=> issue(type="r", value=JsonToClaimValue("1.5"));`, err: "JsonToClaimValue: JSON number 1.5 is a fraction"},
		{name: "JsonToClaimValue fraction in array", rules: `=> issue(type="r", value=JsonToClaimValue("[1, 2.25]"));`, err: "JSON number 2.25 is a fraction"},
		{name: "JsonToClaimValue huge integer", rules: `=> issue(type="r", value=JsonToClaimValue("1e30"));`, err: "out of range for a 64-bit integer"},
		{name: "JsonToClaimValue object", rules: `=> issue(type="r", value=JsonToClaimValue("{\"a\":1}"));`, err: "JsonToClaimValue: a JSON object cannot be converted to a claim value"},
		{name: "JsonToClaimValue array of objects", rules: `=> issue(type="r", value=JsonToClaimValue("[{}]"));`, err: "a JSON array containing objects cannot be converted"},
		{name: "JsonToClaimValue nested array", rules: `=> issue(type="r", value=JsonToClaimValue("[[1]]"));`, err: "a JSON array containing arrays cannot be converted"},
		{name: "JsonToClaimValue invalid JSON", rules: `=> issue(type="r", value=JsonToClaimValue("abc"));`, err: "JsonToClaimValue: argument is not valid JSON"},
		{name: "JsonToClaimValue trailing data", rules: `=> issue(type="r", value=JsonToClaimValue("1 2"));`, err: "data after the JSON value"},
		// IsSubsetOf (doc example, then false and empty cases).
		{name: "IsSubsetOf true", inList: []Claim{
			ServiceClaim("Subset", String("abc")), ServiceClaim("Subset", Integer(100)),
			ServiceClaim("Superset", Boolean(true)), ServiceClaim("Superset", String("abc")), ServiceClaim("Superset", Integer(100))},
			rules: `c1:[type == "Subset"] && c2:[type=="Superset"] => issue(type="IsSubset", value=IsSubsetOf(c1.value, c2.value));`,
			out:   `{"IsSubset":true}`},
		{name: "IsSubsetOf false", inList: []Claim{
			ServiceClaim("Subset", String("abc")), ServiceClaim("Subset", Integer(101)), ServiceClaim("Superset", Integer(100)), ServiceClaim("Superset", String("abc"))},
			rules: `c1:[type == "Subset"] && c2:[type=="Superset"] => issue(type="IsSubset", value=IsSubsetOf(c1.value, c2.value));`,
			out:   `{"IsSubset":false}`},
		{name: "IsSubsetOf empty set", rules: `=> issue(type="r", value=IsSubsetOf(JsonToClaimValue("[]"), 1));`, out: `{"r":true}`},
		{name: "IsSubsetOf type-sensitive", rules: `=> issue(type="r", value=IsSubsetOf(1, "1"));`, out: `{"r":false}`},
		// AppendString.
		{name: "AppendString", in: `{"String1":"abc","String2":"xyz"}`,
			rules: `c1:[type=="String1"] && c2:[type=="String2"] => issue(type="Result", value=AppendString(c1.value, c2.value));`,
			out:   `{"Result":"abcxyz"}`},
		{name: "AppendString empty", rules: `=> issue(type="r", value=AppendString("", ""));`, out: `{"r":""}`},
		{name: "AppendString integer", in: `{"n":5}`, rules: `c:[type=="n"] => issue(type="r", value=AppendString("a", c.value));`, err: "argument 2 of AppendString must be a String, found Integer 5"},
		// NegateBool.
		{name: "NegateBool", in: `{"Input":true}`, rules: `c:[type=="Input"] => issue(type="Result", value=NegateBool(c.value));`, out: `{"Result":false}`},
		{name: "NegateBool string", in: `{"Input":"true"}`, rules: `c:[type=="Input"] => issue(type="Result", value=NegateBool(c.value));`, err: `argument 1 of NegateBool must be a Boolean, found String "true"`},
		{name: "NegateBool of nothing", rules: `=> issue(type="Result", value=NegateBool(JsonToClaimValue("null")));`, err: "argument 1 of NegateBool must be a single value, found no value"},
		// ContainsOnlyValue.
		{name: "ContainsOnlyValue false", inList: []Claim{ServiceClaim("Set", Integer(100)), ServiceClaim("Set", Integer(101))},
			rules: `c:[type=="Set"] => issue(type="Result", value=ContainsOnlyValue(c.value, 100));`, out: `{"Result":false}`},
		{name: "ContainsOnlyValue true", inList: []Claim{ServiceClaim("Set", Integer(100)), ServiceClaim("Set", Integer(100))},
			rules: `c:[type=="Set"] => issue(type="Result", value=ContainsOnlyValue(c.value, 100));`, out: `{"Result":true}`},
		{name: "ContainsOnlyValue empty set", rules: `=> issue(type="Result", value=ContainsOnlyValue(JsonToClaimValue("[]"), true));`, out: `{"Result":false}`},
		{name: "ContainsOnlyValue needs a single value", rules: `=> issue(type="Result", value=ContainsOnlyValue(1, JsonToClaimValue("[1,1]")));`, err: "argument 2 of ContainsOnlyValue must be a single value, found a set of 2 values"},
		// Nesting and functions in conditions.
		{name: "nested calls", rules: `=> issue(type="r", value=NegateBool(JsonToClaimValue(JmesPath("{\"a\":[true]}", "a[0]"))));`, out: `{"r":false}`},
		{name: "function in a condition", in: `{"j":"{\"n\":7}","n":7}`,
			rules: `c:[type=="j"] && d:[type=="n", value==JsonToClaimValue(JmesPath(c.value, "n"))] => issue(claim=d);`,
			out:   `{"n":7}`},
		{name: "type from a function", rules: `=> issue(type=AppendString("a", "b"), value=1);`, out: `{"ab":1}`},
		{name: "type must be one string", rules: `=> issue(type=JsonToClaimValue("[\"a\",\"b\"]"), value=1);`, err: "type= must evaluate to a single string"},
	})
}

func TestConfigurationProperties(t *testing.T) {
	p, err := Parse(`version=1.1;
configurationrules{
=> issueproperty(type = "required_pcr_mask", value = 15);
=> issueproperty(type = "require_valid_aik_cert", value = false);
=> issueproperty(type = "x-ms-sgx-tcbidentifier", value = "10");
=> issueproperty(type = "x-ms-sgx-tcbidentifier", value = "11");
};
authorizationrules{ [type=="required_pcr_mask", value==15, issuer=="AttestationPolicy"] => permit(); };
issuancerules{ => issueproperty(type="report_validity_in_minutes", value=1440); [type=="report_validity_in_minutes"] => issue(type="seen", value=true); };`)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Evaluate(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mustJSON(res.PropertiesJSON()), `{"report_validity_in_minutes":1440,"require_valid_aik_cert":false,"required_pcr_mask":15,"x-ms-sgx-tcbidentifier":["10","11"]}`; got != want {
		t.Errorf("properties\n got %s\nwant %s", got, want)
	}
	if got := mustJSON(res.ClaimsJSON()); got != `{"seen":true}` {
		t.Errorf("claims %s", got)
	}
	if v, ok := res.Property("x-ms-sgx-tcbidentifier"); !ok || v != String("11") {
		t.Errorf("Property = %v %v; want the last value", v, ok)
	}
	if _, ok := res.Property("nope"); ok {
		t.Error("Property(nope) found")
	}
}

func TestReadOnlyClaims(t *testing.T) {
	pcrs, err := os.ReadFile("testdata/tpm/pcrs.json")
	if err != nil {
		t.Fatal(err)
	}
	in := []Claim{{Type: "pcrs", Value: String(string(pcrs)), Issuer: IssuerService, ReadOnly: true}, ServiceClaim("pcrMatchesExpectedValue", Boolean(true))}
	runCases(t, []evalCase{
		// policy-version-1-2.md: PCR values can validate, not be issued.
		{name: "validate with read-only values", inList: in,
			rules: "c:[type == \"pcrs\", issuer==\"AttestationService\"] && c1:[type==\"pcrMatchesExpectedValue\", value==JsonToClaimValue(JmesPath(c.value, \"PCRs[? Index == `0`].Digests.SHA1 | @[0] == `\\\"tlifxqsNyCzxIJnRwtQKuZToQQw\\\"`\"))] => issue(claim = c1);",
			out:   `{"pcrMatchesExpectedValue":true}`},
		{name: "issue read-only claim", inList: in, rules: `c:[type=="pcrs"] => issue(claim=c);`, err: `issue: claim "pcrs" is derived from a read-only claim and cannot be issued`},
		{name: "issue derived value", inList: in, rules: `c:[type=="pcrs"] => issue(type="p", value=JmesPath(c.value, "PCRs[0].Index"));`, err: "derived from a read-only claim"},
		{name: "issueproperty derived value", inList: in, rules: `c:[type=="pcrs"] => issueproperty(type="p", value=c.value);`, err: "derived from a read-only claim"},
		{name: "add then issue derived value", inList: in, rules: `c:[type=="pcrs"] => add(type="p", value=JmesPath(c.value, "PCRs[0].Index")); c:[type=="p"] => issue(type="q", value=JsonToClaimValue(c.value));`, err: "derived from a read-only claim"},
		{name: "boolean results are not read-only", inList: in, rules: `c:[type=="pcrs"] => issue(type="p", value=IsSubsetOf(c.value, c.value));`, out: `{"p":true}`},
	})
}

func TestEvaluationLimits(t *testing.T) {
	in := claimsOf(t, `{"a":1,"b":2,"c":3}`)
	p, err := ParseWithLimits(`version=1.2; authorizationrules{=> permit();}; issuancerules{`+strings.Repeat(`[type=="a"] => add(type="x", value=1);`, 50)+`};`, Limits{MaxSteps: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Evaluate(context.Background(), in); err == nil || !strings.Contains(err.Error(), "exceeded the limit of 100 steps") {
		t.Errorf("steps: %v", err)
	}
	p, _ = ParseWithLimits(`version=1.2; authorizationrules{=> permit();}; issuancerules{`+strings.Repeat(`=> add(type="x", value=1);`, 20)+`};`, Limits{MaxClaims: 10})
	if _, err := p.Evaluate(context.Background(), in); err == nil || !strings.Contains(err.Error(), "limit of 10 claims") {
		t.Errorf("claims: %v", err)
	}
	if _, err := p.Evaluate(context.Background(), make([]Claim, 11)); err == nil || !strings.Contains(err.Error(), "11 incoming claims") {
		t.Errorf("incoming: %v", err)
	}
	p, _ = ParseWithLimits(`version=1.2; authorizationrules{=> permit();}; issuancerules{ c:[type=="j"] => issue(type="r", value=JmesPath(c.value, "a"));};`, Limits{MaxJSONBytes: 100, MaxJSONDepth: 4})
	if _, err := p.Evaluate(context.Background(), []Claim{ServiceClaim("j", String(`{"a":"`+strings.Repeat("x", 200)+`"}`))}); err == nil || !strings.Contains(err.Error(), "more than the limit of 100") {
		t.Errorf("json size: %v", err)
	}
	if _, err := p.Evaluate(context.Background(), []Claim{ServiceClaim("j", String(`{"a":[[[[[1]]]]]}`))}); err == nil || !strings.Contains(err.Error(), "nested more than 4 levels") {
		t.Errorf("json depth: %v", err)
	}
	p, _ = ParseWithLimits(`version=1.2; authorizationrules{=> permit();}; issuancerules{ => add(type="s", value="xxxxxxxxxx"); `+
		strings.Repeat(`c:[type=="s"] => add(type="s", value=AppendString(c.value, c.value));`, 1)+`};`, Limits{MaxValueLen: 15})
	if _, err := p.Evaluate(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "AppendString: result would be 20 bytes") {
		t.Errorf("value length: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p, _ = Parse(`version=1.0; authorizationrules{=> permit();};`)
	if _, err := p.Evaluate(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestConcurrentEvaluate shares one compiled policy between goroutines (run
// with -race) and checks results are identical (determinism).
func TestConcurrentEvaluate(t *testing.T) {
	events, err := os.ReadFile("testdata/tpm/events-100.json")
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile("testdata/examples/tpm-attestation-sample-policies-2.policy")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(string(text))
	if err != nil {
		t.Fatal(err)
	}
	in := []Claim{ServiceClaim("events", String(string(events))), ServiceClaim("aikValidated", Boolean(true))}
	first, err := p.Evaluate(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := mustJSON(first.ClaimsJSON())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				res, err := p.Evaluate(context.Background(), in)
				if err != nil {
					errs <- err
					return
				}
				if got := mustJSON(res.ClaimsJSON()); got != want {
					errs <- fmt.Errorf("nondeterministic result %s", got)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestEvaluateDoesNotModifyInput(t *testing.T) {
	in := []Claim{{Type: "a", Value: Integer(1)}}
	if _, err := run(t, `c:[type=="a"] => add(type="b", value=2); => issue(type="c", value=3);`, in); err != nil {
		t.Fatal(err)
	}
	if len(in) != 1 || in[0].Issuer != "" {
		t.Fatalf("input modified: %+v", in)
	}
}

func TestEvaluateRejectsInvalidClaims(t *testing.T) {
	if _, err := run(t, `=> issue(type="a", value=1);`, []Claim{{Type: "x"}}); err == nil || !strings.Contains(err.Error(), `incoming claim "x" has no value`) {
		t.Fatalf("zero value: %v", err)
	}
}

func TestQueryLengthLimit(t *testing.T) {
	long := strings.Repeat("a.", 50) + "a"
	if _, err := ParseWithLimits(`version=1.2; authorizationrules{=> permit();}; issuancerules{=> issue(type="r", value=JmesPath("{}", "`+long+`"));};`, Limits{MaxQueryLen: 64}); err == nil || !strings.Contains(err.Error(), "the JMESPath query is 101 bytes, more than the limit of 64") {
		t.Errorf("literal: %v", err)
	}
	p, err := ParseWithLimits(`version=1.2; authorizationrules{=> permit();}; issuancerules{c:[type=="q"] => issue(type="r", value=JmesPath("{}", c.value));};`, Limits{MaxQueryLen: 64})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Evaluate(context.Background(), []Claim{ServiceClaim("q", String(long))}); err == nil || !strings.Contains(err.Error(), "the query is 101 bytes") {
		t.Errorf("dynamic: %v", err)
	}
}

// TestJMESPathDeterministic: keys/values/items follow key order, not Go's
// random map order.
func TestJMESPathDeterministic(t *testing.T) {
	obj := `{\"d\":4,\"b\":2,\"a\":1,\"c\":3,\"e\":5,\"f\":6,\"g\":7,\"h\":8}`
	for range 20 {
		res, err := run(t, `=> issue(type="k", value=JmesPath("`+obj+`", "keys(@)"));
			=> issue(type="v", value=JmesPath("`+obj+`", "values(@)"));
			=> issue(type="i", value=JmesPath("`+obj+`", "items(@)[0]"));`, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustJSON(res.ClaimsJSON()); got != `{"i":"[\"a\",1]","k":"[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\"]","v":"[1,2,3,4,5,6,7,8]"}` {
			t.Fatalf("got %s", got)
		}
	}
}

// TestJSONCacheIdentity: transient JmesPath results are cached by identity
// only while alive; equal-length different documents never share an entry.
func TestJSONCacheIdentity(t *testing.T) {
	var rules strings.Builder
	for i := range 200 {
		fmt.Fprintf(&rules, "=> issue(type=\"r\", value=JmesPath(JmesPath(\"{\\\"a\\\":{\\\"x\\\":%d}}\", \"a\"), \"x\"));\n", i%10)
	}
	res, err := run(t, rules.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range res.Claims {
		if want := String(fmt.Sprint(i % 10)); c.Value != want {
			t.Fatalf("claim %d = %v, want %v", i, c.Value, want)
		}
	}
}

// TestJMESPathBounds: what a query can do is bounded before it runs.
func TestJMESPathBounds(t *testing.T) {
	dbl := strings.Repeat("[@,@][] | ", 9) + "length(@)" // 2^9 = 512 times the input
	if _, err := Parse(`version=1.2; authorizationrules{=> permit();}; issuancerules{=> issue(type="r", value=JmesPath("[1]", "` + dbl + `"));};`); err == nil ||
		!strings.Contains(err.Error(), "invalid JMESPath query: the query can produce values more than 256 times the size of its input") {
		t.Errorf("growth: %v", err)
	}
	ok := strings.Repeat("[@,@][] | ", 8) + "length(@)" // 256: allowed
	res, err := run(t, `=> issue(type="r", value=JmesPath("[1]", "`+ok+`"));`, nil)
	if err != nil || mustJSON(res.ClaimsJSON()) != `{"r":"256"}` {
		t.Errorf("growth 256: %v %v", err, res)
	}
	if _, err := Parse(`version=1.2; authorizationrules{=> permit();}; issuancerules{=> issue(type="r", value=JmesPath("{}", "let $a = @ in $a"));};`); err == nil ||
		!strings.Contains(err.Error(), "let expressions and variables are not supported") {
		t.Errorf("let: %v", err)
	}
	// Dynamic queries get the same checks.
	if _, err := run(t, `c:[type=="q"] => issue(type="r", value=JmesPath("[1]", c.value));`, []Claim{ServiceClaim("q", String(dbl))}); err == nil || !strings.Contains(err.Error(), "more than 256 times") {
		t.Errorf("dynamic growth: %v", err)
	}
	runCases(t, []evalCase{
		{name: "pad_left", rules: "=> issue(type=\"r\", value=JmesPath(\"{}\", \"pad_left('ab', `5`, '*')\"));", out: `{"r":"\"***ab\""}`},
		{name: "pad_right huge", rules: "=> issue(type=\"r\", value=JmesPath(\"{}\", \"pad_right('ab', `1e12`)\"));", err: "pad_right: width 1e+12 is more than 4194304"},
		{name: "replace", rules: "=> issue(type=\"r\", value=JmesPath(\"{}\", \"replace('aXbX', 'X', '-')\"));", out: `{"r":"\"a-b-\""}`},
		{name: "replace huge", rules: "=> issue(type=\"r\", value=JmesPath(\"{\\\"s\\\":\\\"" + strings.Repeat("x", 3000) + "\\\"}\", \"replace(s, '', '" + strings.Repeat("y", 2000) + "')\"));", err: "replace: result would be"},
		{name: "join", rules: "=> issue(type=\"r\", value=JmesPath(\"[\\\"a\\\",\\\"b\\\"]\", \"join(', ', @)\"));", out: `{"r":"\"a, b\""}`},
	})
}

// TestJMESPathCost: the TPM sample policy over 100 events stays far below
// the default step limit.
func TestJMESPathCost(t *testing.T) {
	events, _ := os.ReadFile("testdata/tpm/events-100.json")
	text, _ := os.ReadFile("testdata/examples/tpm-attestation-sample-policies-2.policy")
	p, err := Parse(string(text))
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Evaluate(context.Background(), []Claim{ServiceClaim("events", String(string(events)))})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps > DefaultLimits().MaxSteps/20 {
		t.Errorf("%d steps for a 40 KB event log", res.Steps)
	}
	t.Logf("%d steps", res.Steps)
}

// TestJMESPathDoesNotMutateDocuments: sort_by on a document must not reorder
// it for later queries (the library sorts in place; ours copies).
func TestJMESPathDoesNotMutateDocuments(t *testing.T) {
	in := claimsOf(t, `{"d":[{"k":3},{"k":1},{"k":2}]}`)
	res, err := run(t, "c:[type==\"d\"] => issue(type=\"sorted\", value=JmesPath(c.value, \"sort_by(@, &k)[*].k\"));\n"+
		"c:[type==\"d\"] => issue(type=\"after\", value=JmesPath(c.value, \"[*].k\"));\n"+
		"c:[type==\"d\"] => issue(type=\"str\", value=JmesPath(\"[{\\\"k\\\":\\\"b\\\"},{\\\"k\\\":\\\"a\\\"}]\", \"sort_by(@, &k)[*].k\"));", in)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(res.ClaimsJSON()); got != `{"after":"[3,1,2]","sorted":"[1,2,3]","str":"[\"a\",\"b\"]"}` {
		t.Fatalf("got %s", got)
	}
	if _, err := run(t, "=> issue(type=\"x\", value=JmesPath(\"[{\\\"k\\\":1},{\\\"k\\\":\\\"a\\\"}]\", \"sort_by(@, &k)\"));", nil); err == nil || !strings.Contains(err.Error(), "sort_by: the expression must give numbers") {
		t.Fatalf("mixed keys: %v", err)
	}
}

func TestJSONClaim(t *testing.T) {
	c, err := JSONClaim("events", []byte("{ \"Events\" : [ 1, 2 ] }\n"))
	if err != nil || c.Type != "events" || c.Issuer != IssuerService || c.Value != String(`{"Events":[1,2]}`) {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := JSONClaim("events", []byte("{")); err == nil {
		t.Fatal("invalid JSON accepted")
	}
}
