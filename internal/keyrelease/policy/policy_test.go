package policy

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/maaerr"
)

const (
	mrsigner = "9fa48b1629bd246a1de3d38fb7df97f6554cd65d6b3b72e85b86848ae6b578ba"
	mrencl   = "9fa48b1629bg677jfsaawed7772e85b86848ae6b578ba"
	eus2     = "https://sharedeus2.eus2.attest.azure.net"
)

func load(t *testing.T, name string) *Policy {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

// claims decodes a token's claims as the SDK does (numbers as float64).
func claims(t *testing.T, js string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAKVDocumentationExamples(t *testing.T) {
	for _, tc := range []struct {
		file, issuer, claims string
		release              bool
		reason               string
	}{
		{"akv-sgx-example-1.json", eus2, `{"x-ms-sgx-mrsigner":"` + mrsigner + `"}`, true, ""},
		{"akv-sgx-example-1.json", eus2 + "/", `{"x-ms-sgx-mrsigner":"` + mrsigner + `"}`, true, ""},
		{"akv-sgx-example-1.json", eus2, `{"x-ms-sgx-mrsigner":"00"}`, false, `claim x-ms-sgx-mrsigner is "00", the policy requires equals "9fa4`},
		{"akv-sgx-example-1.json", eus2, `{}`, false, "claim x-ms-sgx-mrsigner is missing"},
		{"akv-sgx-example-1.json", "https://evil.example", `{"x-ms-sgx-mrsigner":"` + mrsigner + `"}`, false, `issuer "https://evil.example" is not an authority`},
		{"akv-sgx-example-2.json", eus2, `{"x-ms-sgx-mrsigner":"` + mrsigner + `","x-ms-sgx-mrenclave":"` + mrencl + `"}`, true, ""},
		{"akv-sgx-example-2.json", eus2, `{"x-ms-sgx-mrsigner":"` + mrsigner + `","x-ms-sgx-mrenclave":"ab"}`, false, "x-ms-sgx-mrenclave"},
		{"akv-sgx-example-3.json", eus2, `{"x-ms-sgx-mrsigner":"` + mrsigner + `","x-ms-sgx-mrenclave":"` + mrencl + `","x-ms-sgx-svn":2}`, true, ""},
		{"akv-sgx-example-3.json", eus2, `{"x-ms-sgx-mrsigner":"` + mrsigner + `","x-ms-sgx-mrenclave":"` + mrencl + `","x-ms-sgx-svn":1}`, false, "claim x-ms-sgx-svn is 1, the policy requires greater 1"},
		{"akv-sgx-example-3.json", eus2, `{"x-ms-sgx-mrsigner":"` + mrsigner + `","x-ms-sgx-mrenclave":"` + mrencl + `","x-ms-sgx-svn":"2"}`, false, "x-ms-sgx-svn"},
		{"cvm-skr-policy-excerpt.json", "https://sharedwus.wus.attest.azure.net", `{"x-ms-compliance-status":"azure-compliant-cvm","x-ms-attestation-type":"sevsnpvm"}`, true, ""},
		{"cvm-skr-policy-excerpt.json", "https://SHAREDWEU.weu.attest.azure.net/", `{"x-ms-compliance-status":"azure-compliant-cvm","x-ms-attestation-type":"tdxvm"}`, true, ""},
		{"cvm-skr-policy-excerpt.json", "https://sharedwus.wus.attest.azure.net", `{"x-ms-compliance-status":"azure-compliant-cvm","x-ms-attestation-type":"sgx"}`, false, "none of anyOf holds"},
		{"cvm-skr-policy-excerpt.json", "https://sharedwus.wus.attest.azure.net", `{"x-ms-attestation-type":"sevsnpvm"}`, false, "x-ms-compliance-status is missing"},
	} {
		p := load(t, tc.file)
		d := p.Evaluate(tc.issuer, claims(t, tc.claims))
		if d.Release != tc.release || !strings.Contains(d.Reason, tc.reason) {
			t.Errorf("%s %s %s: got %+v, want release=%v reason containing %q", tc.file, tc.issuer, tc.claims, d, tc.release, tc.reason)
		}
	}
}

func eval1(t *testing.T, cond string, c map[string]any) Decision {
	t.Helper()
	p, err := Parse([]byte(`{"version":"1.0.2","anyOf":[{"authority":"https://a","allOf":[` + cond + `]}]}`))
	if err != nil {
		t.Fatalf("%s: %v", cond, err)
	}
	return p.Evaluate("https://a", c)
}

func TestGrammarOperators(t *testing.T) {
	c := claims(t, `{"n":5,"s":"x","b":true,"x-ms-runtime":{"keys":[1],"client":{"name":"app"}},"x-ms-isolation-tee.x-ms-attestation-type":"sevsnpvm"}`)
	for _, tc := range []struct {
		cond string
		want bool
	}{
		{`{"claim":"n","equals":5}`, true},
		{`{"claim":"n","equals":5.0}`, true},
		{`{"claim":"n","equals":"5"}`, false},
		{`{"claim":"n","notEquals":4}`, true},
		{`{"claim":"n","notEquals":5}`, false},
		{`{"claim":"n","less":6}`, true},
		{`{"claim":"n","less":5}`, false},
		{`{"claim":"n","lessOrEquals":5}`, true},
		{`{"claim":"n","greater":4}`, true},
		{`{"claim":"n","greater":5}`, false},
		{`{"claim":"n","greaterOrEquals":5}`, true},
		{`{"claim":"s","greaterOrEquals":0}`, false},
		{`{"claim":"s","equals":"x"}`, true},
		{`{"claim":"s","equals":"X"}`, false},
		{`{"claim":"b","equals":true}`, true},
		{`{"claim":"b","notEquals":true}`, false},
		{`{"claim":"s","exists":true}`, true},
		{`{"claim":"missing","exists":false}`, true},
		{`{"claim":"missing","exists":true}`, false},
		{`{"claim":"missing","notEquals":"x"}`, false},
		{`{"claim":"x-ms-runtime.client.name","equals":"app"}`, true},
		{`{"claim":"x-ms-runtime.client.other","exists":false}`, true},
		{`{"claim":"x-ms-isolation-tee.x-ms-attestation-type","equals":"sevsnpvm"}`, true},
		{`{"anyOf":[{"claim":"n","equals":1},{"claim":"s","equals":"x"}]}`, true},
		{`{"allOf":[{"claim":"n","equals":5},{"anyOf":[{"claim":"s","equals":"y"},{"claim":"b","equals":false}]}]}`, false},
		{`{"CLAIM":"n","Equals":5}`, true},
	} {
		if d := eval1(t, tc.cond, c); d.Release != tc.want || (!d.Release && d.Reason == "") {
			t.Errorf("%s: %+v, want %v", tc.cond, d, tc.want)
		}
	}
}

func TestAnyOfAuthorities(t *testing.T) {
	p, err := Parse([]byte(`{"version":"1.0.0","anyOf":[
		{"authority":"https://a","allOf":[{"claim":"n","equals":1}]},
		{"authority":"https://a","anyOf":[{"claim":"n","equals":2}]},
		{"authority":"https://b","allOf":[{"claim":"n","equals":3}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		iss  string
		n    float64
		want bool
	}{{"https://a", 1, true}, {"https://a", 2, true}, {"https://a", 3, false}, {"https://b", 3, true}, {"https://b", 1, false}} {
		d := p.Evaluate(tc.iss, map[string]any{"n": tc.n})
		if d.Release != tc.want {
			t.Errorf("%s n=%v: %+v", tc.iss, tc.n, d)
		}
	}
	if d := p.Evaluate("https://a", map[string]any{"n": 9.0}); !strings.Contains(d.Reason, "claim n is 9, the policy requires equals 1; none of anyOf holds (claim n is 9, the policy requires equals 2)") {
		t.Errorf("reason lists both authorities' failures: %q", d.Reason)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ doc, where string }{
		{`[]`, "the top level"},
		{`{"anyOf":[{"authority":"https://a","allOf":[{"claim":"n","equals":1}]}]}`, "version"},
		{`{"version":"2.0.0","anyOf":[{"authority":"https://a","allOf":[{"claim":"n","equals":1}]}]}`, `got "2.0.0"`},
		{`{"version":"1.0.0"}`, "anyOf"},
		{`{"version":"1.0.0","anyOf":[]}`, "anyOf"},
		{`{"version":"1.0.0","allOf":[]}`, "allOf"},
		{`{"version":"1.0.0","anyOf":[{"allOf":[{"claim":"n","equals":1}]}]}`, `anyOf[0]: missing "authority"`},
		{`{"version":"1.0.0","anyOf":[{"authority":"https://a"}]}`, "exactly one of allOf and anyOf"},
		{`{"version":"1.0.0","anyOf":[{"authority":"https://a","allOf":[{"claim":"n","equals":1}],"anyOf":[{"claim":"n","equals":1}]}]}`, "exactly one"},
		{`{"version":"1.0.0","anyOf":[{"authority":"https://a","allOf":[]}]}`, "anyOf[0].allOf"},
		{`{"version":"1.0.0","anyOf":[{"authority":"https://a","allOf":[{"equals":1}]}]}`, `anyOf[0].allOf[0]: missing "claim"`},
		{`{"version":"1.0.0","anyOf":[{"authority":"https://a","allOf":[{"claim":"n"}]}]}`, "no operator"},
		{`{"version":"1.0.0","anyOf":[{"authority":"https://a","allOf":[{"claim":"n","equals":1,"greater":0}]}]}`, "two operators"},
		{`{"version":"1.0.0","anyOf":[{"authority":"https://a","allOf":[{"claim":"n","like":"x"}]}]}`, "unknown member"},
		{`{"version":"1.0.0","anyOf":[{"authority":"https://a","allOf":[{"claim":"n","equals":{"a":1}}]}]}`, "string, number or boolean"},
		{`{"version":"1.0.0","anyOf":[{"authority":"https://a","allOf":[{"claim":"n","greater":"1"}]}]}`, "want a number"},
		{`{"version":"1.0.0","anyOf":[{"authority":"https://a","allOf":[{"claim":"n","exists":1}]}]}`, "true or false"},
		{`{"version":"1.0.0","version":"1.0.0","anyOf":[]}`, "twice"},
		{`{"version":"1.0.0","anyOf":[{"authority":"https://a","allOf":[{"claim":"n","equals":1,"Equals":2}]}]}`, "different case"},
		{`{"version":"1.0.0","anyOf":[{"authority":"https://a","allOf":[` + strings.Repeat(`{"allOf":[`, 20) + `{"claim":"n","equals":1}` + strings.Repeat(`]}`, 20) + `]}]}`, "nested deeper"},
	} {
		_, err := Parse([]byte(tc.doc))
		var me *maaerr.Error
		if !errors.As(err, &me) || me.Code != maaerr.InvalidParameter || !strings.Contains(err.Error(), tc.where) {
			t.Errorf("%s: %v, want InvalidParameter mentioning %q", tc.doc, err, tc.where)
		}
	}
	if _, err := Parse(make([]byte, MaxPolicyBytes+1)); err == nil {
		t.Error("oversized policy accepted")
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range []string{"akv-sgx-example-1.json", "akv-sgx-example-2.json", "akv-sgx-example-3.json", "cvm-skr-policy-excerpt.json"} {
		b, err := os.ReadFile("testdata/" + n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := Parse(doc)
		if err != nil {
			var me *maaerr.Error
			if !errors.As(err, &me) {
				t.Fatalf("error is not a *maaerr.Error: %v", err)
			}
			return
		}
		_ = p.Evaluate("https://sharedeus2.eus2.attest.azure.net", map[string]any{"x-ms-sgx-svn": 2.0, "x-ms-sgx-mrsigner": mrsigner})
	})
}
