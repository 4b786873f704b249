package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/maaerr"
)

func TestParseErrors(t *testing.T) {
	const v12 = "version=1.2;authorizationrules{=> permit();};"
	cases := []struct{ policy, err string }{
		// structure
		{"", `1:1: expected "version", found end of policy`},
		{"   // only a comment\n", `2:1: expected "version", found end of policy`},
		{"authorizationrules{};", `1:1: expected "version", found "authorizationrules"`},
		{"version 1.0;", `1:9: expected "=", found integer 1`},
		{"version=1.0", `1:12: expected ";" after the version, found end of policy`},
		{"version=1.0 authorizationrules{};", `1:13: expected ";" after the version, found "authorizationrules"`},
		{"version=1.0[", `1:12: expected ";" after the version, found "["`},
		{"version=1;", `1:10: expected "." of a version number such as 1.0, found ";"`},
		{"version=1. 0;", `1:12: expected minor version number, found integer 0`},
		{"version=2.0;", `1:9: unsupported policy version 2.0 (supported: 1.0, 1.1, 1.2)`},
		{"version=x;", `1:9: expected version number (1.0, 1.1 or 1.2), found "x"`},
		{"version=1.0;", `1:13: expected authorizationrules section (it is required), found end of policy`},
		{"version=1.0; issuancerules{};", `1:14: expected authorizationrules before issuancerules (authorizationrules is required)`},
		{"version=1.0; rules{};", `1:14: expected configurationrules or authorizationrules, found "rules"`},
		{"version=1.1; authorizationrules{}; configurationrules{};", `1:36: section configurationrules is out of order or repeated (order: configurationrules, authorizationrules, issuancerules; each at most once)`},
		{"version=1.0; authorizationrules{}; authorizationrules{};", `1:36: section authorizationrules is out of order or repeated (order: configurationrules, authorizationrules, issuancerules; each at most once)`},
		{"version=1.0; authorizationrules{}", `1:34: expected ";" after "}" closing authorizationrules, found end of policy`},
		{"version=1.0; authorizationrules{=> permit();", `1:45: expected a rule or "}" closing authorizationrules, found end of policy`},
		{"version=1.0; authorizationrules => permit();", `1:33: expected "{" after authorizationrules, found "=>"`},
		{"version=1.0; authorizationrules{}; issuancerules{}; extra", `1:53: expected end of policy, found "extra"`},
		{"version=1.0; authorizationrules{=> permit();}; ;", `1:48: expected issuancerules or end of policy, found ";"`},
		// version features
		{"version=1.0; configurationrules{}; authorizationrules{};", `1:14: configurationrules requires policy version 1.1 or later (this policy is version 1.0)`},
		{"version=1.1; authorizationrules{![type==\"a\"] => permit();};", `1:33: the "!" (not) condition operator requires policy version 1.2 or later (this policy is version 1.1)`},
		{"version=1.1; authorizationrules{=> permit();}; issuancerules{=> issue(type=\"a\", value=NegateBool(true));};", `1:87: function NegateBool requires policy version 1.2 or later (this policy is version 1.1)`},
		// actions per section
		{"version=1.1; configurationrules{=> permit();}; authorizationrules{};", `1:36: action permit is not allowed in configurationrules (allowed: issueproperty)`},
		{"version=1.1; configurationrules{=> add(type=\"a\", value=1);}; authorizationrules{};", `1:36: action add is not allowed in configurationrules (allowed: issueproperty)`},
		{"version=1.0; authorizationrules{=> issueproperty(type=\"a\", value=1);};", `1:36: action issueproperty is not allowed in authorizationrules (allowed: permit, deny, add)`},
		{"version=1.0; authorizationrules{=> permit();}; issuancerules{=> deny();};", `1:65: action deny is not allowed in issuancerules (allowed: add, issue, issueproperty)`},
		{"version=1.0; authorizationrules{=> allow();};", `1:36: unknown action "allow" (actions: permit, deny, add, issue, issueproperty)`},
		{"version=1.0; authorizationrules{=> permit(c);};", `1:43: expected ")" (permit() takes no arguments), found "c"`},
		{"version=1.0; authorizationrules{=> permit;};", `1:42: expected "(" after permit, found ";"`},
		// action arguments
		{v12 + "issuancerules{=> issue(type=\"a\");};", `1:77: issue needs both type= and value= (or claim=); value= is missing`},
		{v12 + "issuancerules{=> issue(value=1);};", `1:76: issue needs both type= and value= (or claim=); type= is missing`},
		{v12 + "issuancerules{=> issue();};", `1:69: expected "type=", "value=" or "claim=", found ")"`},
		{v12 + "issuancerules{=> issue(type=\"a\", type=\"b\", value=1);};", `1:79: type= is given twice`},
		{v12 + "issuancerules{=> issue(type=1, value=1);};", `1:74: a claim type must be a string, found 1`},
		{v12 + "issuancerules{=> issue(claim=c);};", `1:75: undefined identifier "c" (identifiers are bound by a condition of the same rule, as in c:[type=="…"])`},
		{v12 + "issuancerules{c:[type==\"a\"] => issue(claim=c, value=1);};", `1:92: claim= cannot be combined with type= or value=`},
		{v12 + "issuancerules{=> issue(type=\"a\" value=1);};", `1:78: expected "," or ")", found "value"`},
		{v12 + "issuancerules{=> issue(type=\"a\", value=1)};", `1:87: expected ";" after the rule's action, found "}"`},
		// conditions
		{v12 + "issuancerules{[] => issue(type=\"a\", value=1);};", `1:61: expected claim property (type, value, valueType or issuer), found "]"`},
		{v12 + "issuancerules{[Type==\"a\"] => issue(type=\"a\", value=1);};", `1:61: unknown claim property "Type" (did you mean "type"? property names are case-sensitive)`},
		{v12 + "issuancerules{[name==\"a\"] => issue(type=\"a\", value=1);};", `1:61: expected claim property (type, value, valueType or issuer), found "name"`},
		{v12 + "issuancerules{[type==\"a\" => issue(type=\"a\", value=1);};", `1:71: expected "," or "]", found "=>"`},
		{v12 + "issuancerules{[type==\"a\"] issue(type=\"a\", value=1);};", `1:72: expected "&&" or "=>", found "issue"`},
		{v12 + "issuancerules{[type==\"a\"] || [type==\"b\"] => issue(type=\"a\", value=1);};", `1:72: expected "&&" or "=>", found "||" (conditions can only be joined with "&&"; write alternatives as separate rules)`},
		{v12 + "issuancerules{[type==\"a\"] & [type==\"b\"] => issue(type=\"a\", value=1);};", `1:72: unexpected character '&'`},
		{v12 + "issuancerules{c [type==\"a\"] => issue(type=\"a\", value=1);};", `1:62: expected ":" after identifier "c", found "["`},
		{v12 + "issuancerules{!c:[type==\"a\"] => issue(type=\"a\", value=1);};", `1:61: a negated condition matches no claim, so it cannot bind identifier "c"`},
		{v12 + "issuancerules{c:[type==\"a\"] && c:[type==\"b\"] => issue(type=\"a\", value=1);};", `1:77: identifier "c" is already bound in this rule`},
		{v12 + "issuancerules{c:[type==\"a\", value==c.value] => issue(type=\"a\", value=1);};", `1:81: undefined identifier "c" (identifiers are bound by an earlier condition of the same rule, as in c:[type=="…"])`},
		{v12 + "issuancerules{c:[type==\"a\"] => issue(type=\"a\", value=c);};", `1:100: expected "." and a claim property after identifier "c", found ")"`},
		{v12 + "issuancerules{c:[type==\"a\"] => issue(type=\"a\", value=c.val);};", `1:101: expected claim property (type, value, valueType or issuer), found "val"`},
		{v12 + "issuancerules{[type<\"a\"] => issue(type=\"a\", value=1);};", `1:65: operator < cannot compare the type property (a string); use == or !=`},
		{v12 + "issuancerules{[type==1] => issue(type=\"a\", value=1);};", `1:67: the type property is a string; compare it with a string literal, not 1`},
		{v12 + "issuancerules{[issuer==true] => issue(type=\"a\", value=1);};", `1:69: the issuer property is a string; compare it with a string literal, not true`},
		{v12 + "issuancerules{[valueType==\"Int\"] => issue(type=\"a\", value=1);};", `1:72: unknown valueType "Int" (valueType is "String", "Integer" or "Boolean")`},
		{v12 + "issuancerules{[value>=\"5\"] => issue(type=\"a\", value=1);};", `1:68: operator >= compares integers, not "5"`},
		{v12 + "issuancerules{[value<true] => issue(type=\"a\", value=1);};", `1:67: operator < compares integers, not true`},
		{v12 + "issuancerules{[value=>1] => issue(type=\"a\", value=1);};", `1:66: expected comparison operator (==, !=, <, <=, >, >=), found "=>"`},
		{v12 + "issuancerules{true:[type==\"a\"] => issue(claim=true);};", `1:60: true is a literal and cannot be used as an identifier`},
		// functions
		{v12 + "issuancerules{=> issue(type=\"a\", value=Foo(1));};", `1:85: unknown function "Foo"`},
		{v12 + "issuancerules{=> issue(type=\"a\", value=jmespath(\"{}\", \"a\"));};", `1:85: unknown function "jmespath" (did you mean "JmesPath"?)`},
		{v12 + "issuancerules{=> issue(type=\"a\", value=JmesPath(\"{}\"));};", `1:85: function JmesPath takes 2 arguments, found 1`},
		{v12 + "issuancerules{=> issue(type=\"a\", value=JmesPath(\"{}\", \"a\", \"b\"));};", `1:85: function JmesPath takes 2 arguments, found 3`},
		{v12 + "issuancerules{=> issue(type=\"a\", value=NegateBool(1));};", `1:96: argument 1 of NegateBool must be a Boolean, found 1`},
		{v12 + "issuancerules{=> issue(type=\"a\", value=AppendString(\"a\", true));};", `1:103: argument 2 of AppendString must be a String, found true`},
		{v12 + "issuancerules{=> issue(type=\"a\", value=JmesPath(\"{}\", \"a[\"));};", `1:100: invalid JMESPath query: SyntaxError: Expected TOKStar, received: TOKEOF`},
		{v12 + "issuancerules{=> issue(type=\"a\", value=JmesPath(\"{}\", \"\"));};", `1:100: the JMESPath query must not be empty`},
		{v12 + "issuancerules{=> issue(type=\"a\", value=NegateBool(true);};", `1:101: expected "," or ")", found ";"`},
		// lexical
		{"version=1.0; authorizationrules{=> permit();}; @", `1:48: unexpected character '@'`},
		{"version=1.0;\n\tauthorizationrules{[type==\"a\nb\"] => permit();};", `2:28: unterminated string literal`},
		{"version=1.0; authorizationrules{[type==\"a\\qb\"] => permit();};", `1:42: unknown escape sequence \q in string literal (allowed: \" \\ \/ \b \f \n \r \t \uXXXX)`},
		{"version=1.0; authorizationrules{[type==\"\\u12\"] => permit();};", `1:41: unknown escape sequence \u12"] in string literal (allowed: \" \\ \/ \b \f \n \r \t \uXXXX)`},
		{"version=1.0; authorizationrules{[value==99999999999999999999] => permit();};", `1:41: integer 99999999999999999999 is out of range for a 64-bit integer`},
		{"version=1.0; authorizationrules{[value==12ab] => permit();};", `1:41: malformed number "12ab"`},
		{"version=1.0; authorizationrules{[value==1.5] => permit();};", `1:42: expected "," or "]", found "."`},
		{"version=1.0; authorizationrules{[type==\"é\", value==x] => permit();};", `1:52: undefined identifier "x" (identifiers are bound by an earlier condition of the same rule, as in c:[type=="…"])`},
		{"version=1.0; authorizationrules{[type==“a”] => permit();};", `1:40: typographic quote '“' is not a string delimiter; use a straight double quote '"'`},
		{"version=1.0; /* block */ authorizationrules{};", `1:14: unexpected character '/'`},
		{"version=1.0; authorizationrules{[type==\"\xff\"] => permit();};", `1:41: invalid UTF-8 in string literal`},
	}
	for _, tc := range cases {
		t.Run(tc.err, func(t *testing.T) {
			_, err := Parse(tc.policy)
			if err == nil {
				t.Fatalf("accepted %q", tc.policy)
			}
			if !strings.HasPrefix(err.Error(), tc.err) {
				t.Fatalf("policy %q\n got %s\nwant %s", tc.policy, err, tc.err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("not a *ParseError: %T", err)
			}
			var me *maaerr.Error
			if !errors.As(err, &me) || me.Code != maaerr.PolicyParsingError || me.Message != err.Error() {
				t.Fatalf("does not unwrap to PolicyParsingError: %#v", me)
			}
		})
	}
}

func TestParseErrorFields(t *testing.T) {
	_, err := Parse("version=1.0;\nauthorizationrules{\n  [type=\"a\"] => permit();\n};")
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatal(err)
	}
	if pe.Line != 3 || pe.Col != 8 || pe.Found != `"="` || pe.Expected != `"=="` {
		t.Fatalf("%+v", pe)
	}
	_, err = Parse("version=1.0; authorizationrules{=> permit()};")
	if !errors.As(err, &pe) || pe.Found != `"}"` || pe.Expected != `";" after the rule's action` {
		t.Fatalf("%+v", pe)
	}
}

func TestParseAccepts(t *testing.T) {
	for _, src := range []string{
		"version=1.0;authorizationrules{};",
		"\uFEFFversion = 1.0 ; authorizationrules { } ; issuancerules { } ;",
		"version=1.0;\r\nauthorizationrules\r\n{\r\n=> permit();\r\n};\r\n",
		"version=1.2; // comment\nauthorizationrules{ // c\n=> permit(); // c\n}; // c",
		"version=1.0; authorizationrules{[value==-5] => permit(); [value>=-9223372036854775808] => permit();};",
		"version=1.0; authorizationrules{[type==\"a\\\"b\\\\c\\/\\n\\t\\u00e9\"] => permit();};",
		"version=1.0; authorizationrules{c:[type==\"a\"] && [value==c.value, valueType==\"Integer\", issuer!=c.issuer, type!=c.type] => permit();};",
		"version=1.2; authorizationrules{=> permit();}; issuancerules{=> issue(value=1, type=\"a\");};",
		"version=1.2; authorizationrules{=> permit();}; issuancerules{c:[type==\"x\"] => issueproperty(claim=c);};",
		"version=1.2; authorizationrules{=> permit();}; issuancerules{=> issue(type=AppendString(\"a\", \"b\"), value=IsSubsetOf(1, JsonToClaimValue(\"[1,2]\")));};",
	} {
		if _, err := Parse(src); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
}

func TestParseLimits(t *testing.T) {
	long := "version=1.0; authorizationrules{" + strings.Repeat("=> permit();", 20) + "};"
	if _, err := ParseWithLimits(long, Limits{MaxRules: 10}); err == nil || !strings.Contains(err.Error(), "too many rules (limit 10)") {
		t.Errorf("rules: %v", err)
	}
	if _, err := ParseWithLimits(long, Limits{MaxPolicyBytes: 100}); err == nil || !strings.Contains(err.Error(), "more than the limit of 100") {
		t.Errorf("size: %v", err)
	}
	conds := "version=1.0; authorizationrules{" + strings.Repeat("[type==\"a\"] && ", 10) + "[type==\"a\"] => permit();};"
	if _, err := ParseWithLimits(conds, Limits{MaxConditions: 5}); err == nil || !strings.Contains(err.Error(), "too many conditions") {
		t.Errorf("conditions: %v", err)
	}
	nested := "version=1.2; authorizationrules{=> permit();}; issuancerules{=> issue(type=\"a\", value=" +
		strings.Repeat("NegateBool(", 20) + "true" + strings.Repeat(")", 20) + ");};"
	if _, err := Parse(nested); err == nil || !strings.Contains(err.Error(), "nested too deeply (limit 16)") {
		t.Errorf("nesting: %v", err)
	}
}
