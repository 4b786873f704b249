package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/maaerr"
)

func addSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/examples/*.policy")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("version=1.2;authorizationrules{=> permit();};issuancerules{c:[type==\"j\"] => issue(type=\"r\", value=JsonToClaimValue(JmesPath(c.value, \"a\")));};")
	f.Add("version=1.2;authorizationrules{=> permit();};issuancerules{c:[type==\"s\"] && d:[type==\"s\", value!=c.value] => issue(type=\"r\", value=IsSubsetOf(c.value, d.value));};")
}

// checkParseError checks the error contract of Parse.
func checkParseError(t *testing.T, src string, err error) {
	var pe *ParseError
	var me *maaerr.Error
	if !errors.As(err, &pe) || !errors.As(err, &me) || me.Code != maaerr.PolicyParsingError {
		t.Fatalf("Parse(%q) error %v (%T) is not a ParseError/PolicyParsingError", src, err, err)
	}
	if pe.Line < 1 || pe.Col < 1 || pe.Msg == "" {
		t.Fatalf("Parse(%q): bad position or message %+v", src, pe)
	}
	if lines := strings.Count(src, "\n") + 1; pe.Line > lines {
		t.Fatalf("Parse(%q): line %d beyond the %d lines of input", src, pe.Line, lines)
	}
}

// FuzzParse: Parse never panics; errors carry a position inside the input;
// an accepted policy's canonical form parses to the same tree.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse(src)
		if err != nil {
			checkParseError(t, src, err)
			return
		}
		canon := p.AST().String()
		p2, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form of %q does not parse: %v\n%s", src, err, canon)
		}
		if got := p2.AST().String(); got != canon {
			t.Fatalf("canonical form is not a fixed point:\n%s\n%s", canon, got)
		}
	})
}

// FuzzParseEvaluate: accepted policies evaluate without panicking, within
// the limits, to a result or a PolicyEvaluationError; evaluation is
// deterministic.
func FuzzParseEvaluate(f *testing.F) {
	addSeeds(f)
	in := []Claim{
		ServiceClaim("x-ms-sgx-is-debuggable", Boolean(true)),
		ServiceClaim("x-ms-sgx-mrsigner", String("4aea5f9a0ed04b11f889aadfe6a1d376213a29a95a85ce7337ae6f7fece6610c")),
		ServiceClaim("x-ms-sgx-product-id", Integer(1)),
		ServiceClaim("x-ms-sgx-svn", Integer(1)),
		ServiceClaim("x-ms-attestation-type", String("sgx")),
		ServiceClaim("aikValidated", Boolean(true)),
		ServiceClaim("j", String(`{"a":[1,2,"x",true,null],"b":{"c":1.5},"Events":[{"EventSeq":1,"PcrIndex":12}]}`)),
		ServiceClaim("s", String("a")), ServiceClaim("s", Integer(2)),
		ServiceClaim("events", String(`{"Events":[{"EventSeq":1,"EventTypeString":"EV_EFI_VARIABLE_DRIVER_CONFIG","PcrIndex":7,"ProcessedData":{"UnicodeName":"SecureBoot","VariableGuid":"8BE4DF61-93CA-11D2-AA0D-00E098032B8C","VariableData":"AQ"}},{"EventSeq":2,"EventTypeString":"EV_EVENT_TAG","PcrIndex":12,"ProcessedData":{"EVENT_TRUSTBOUNDARY":{"EVENT_CODEINTEGRITY":true,"EVENT_LOADEDMODULE_AGGREGATION":[{"EVENT_FILEPATH":"\\windows\\system32\\drivers\\wdboot.sys","EVENT_IMAGEVALIDATED":true}]}}}]}`)),
		{Type: "pcrs", Value: String(`{"PCRs":[{"Index":0}]}`), Issuer: IssuerService, ReadOnly: true},
	}
	lim := Limits{MaxSteps: 20000, MaxClaims: 500, MaxJSONBytes: 1 << 16, MaxValueLen: 1 << 16}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := ParseWithLimits(src, lim)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := p.Evaluate(ctx, in)
		res2, err2 := p.Evaluate(ctx, in)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("nondeterministic error: %v / %v", err, err2)
		}
		if err != nil {
			var me *maaerr.Error
			if !errors.As(err, &me) || me.Code != maaerr.PolicyEvaluationError {
				t.Fatalf("evaluation error %v (%T) is not a PolicyEvaluationError", err, err)
			}
			if errors.Is(err, ErrNotAuthorized) != (res != nil && !res.Authorized) {
				t.Fatalf("ErrNotAuthorized %v but result %+v", err, res)
			}
			return
		}
		if res.Steps > lim.MaxSteps || len(res.Claims) > lim.MaxClaims {
			t.Fatalf("limits exceeded: %d steps, %d claims", res.Steps, len(res.Claims))
		}
		if mustJSON(res.ClaimsJSON()) != mustJSON(res2.ClaimsJSON()) || mustJSON(res.PropertiesJSON()) != mustJSON(res2.PropertiesJSON()) {
			t.Fatal("nondeterministic result")
		}
	})
}

// FuzzClaimsFromJSON: the claims decoder never panics.
func FuzzClaimsFromJSON(f *testing.F) {
	f.Add(`{"a":1,"b":"x","c":true,"d":{"e":[1]}}`)
	f.Add(`[{"type":"a","value":1,"valueType":"Integer","issuer":"CustomClaim"}]`)
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ClaimsFromJSON([]byte(s))
		if err == nil {
			for _, c := range cs {
				if c.Value.Type() == 0 {
					t.Fatalf("claim %q without a value", c.Type)
				}
			}
		}
	})
}

// FuzzJMESPathQuery: any query string either fails to compile or runs to a
// result or an error on a small event log, without panicking.
func FuzzJMESPathQuery(f *testing.F) {
	for _, q := range []string{
		"Events[?EventTypeString == 'EV_EFI_VARIABLE_DRIVER_CONFIG' && ProcessedData.VariableGuid == '8BE4DF61-93CA-11D2-AA0D-00E098032B8C']",
		"[?ProcessedData.UnicodeName == 'SecureBoot'] | length(@) == `1` && @[0].ProcessedData.VariableData == 'AQ'",
		"[*].EVENT_LOADEDMODULE_AGGREGATION[] | [? EVENT_IMAGEVALIDATED == `true` && (equals_ignore_case(EVENT_FILEPATH, '\\windows\\system32\\drivers\\wdboot.sys'))] | @ != `null`",
		"Events[? EventTypeString == 'EV_EVENT_TAG' && PcrIndex == `20`] | length(@) == `1` && @[0] | @.{EventSeq:EventSeq, V:ProcessedData}",
		"keys(@) | join(',', @)", "sort_by(Events, &EventSeq)[0]", "map(&PcrIndex, Events)",
	} {
		f.Add(q)
	}
	doc := `{"Events":[{"EventSeq":1,"EventTypeString":"EV_EFI_VARIABLE_DRIVER_CONFIG","PcrIndex":7,"ProcessedData":{"UnicodeName":"SecureBoot","VariableGuid":"8BE4DF61-93CA-11D2-AA0D-00E098032B8C","VariableData":"AQ"}},{"EventSeq":2,"EventTypeString":"EV_EVENT_TAG","PcrIndex":20,"ProcessedData":{"EVENT_LOADEDMODULE_AGGREGATION":[{"EVENT_FILEPATH":"\\windows\\system32\\drivers\\wdboot.sys","EVENT_IMAGEVALIDATED":true}]}}]}`
	f.Fuzz(func(t *testing.T, q string) {
		if len(q) > 1024 {
			return
		}
		e := &evaluator{ctx: context.Background(), lim: &Limits{MaxSteps: 1 << 20, MaxJSONBytes: 1 << 16, MaxJSONDepth: 64, MaxValueLen: 1 << 16, MaxQueryLen: 1 << 12}}
		c := &Call{Name: "JmesPath", Args: []Expr{&StringLit{}, &StringLit{}}, fn: functions["JmesPath"]}
		_, _ = e.jmesPath(c, doc, q)
	})
}
