package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/policy"
)

// runPolicyCmd executes "policy ARGS..." and returns stdout, stderr and the error.
func runPolicyCmd(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := NewPolicyCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func writePolicyFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const policyCLIDefault = `version= 1.1;configurationrules{=> issueproperty(type="x-ms-sgx-tcbidentifier", value="azuredefault");};authorizationrules{=> permit();};issuancerules{c:[type=="x-ms-sgx-is-debuggable"] => issue(type="is-debuggable", value=c.value);c:[type=="x-ms-sgx-mrsigner"] => issue(type="sgx-mrsigner", value=c.value);c:[type=="x-ms-sgx-mrenclave"] => issue(type="sgx-mrenclave", value=c.value);c:[type=="x-ms-sgx-product-id"] => issue(type="product-id", value=c.value);c:[type=="x-ms-sgx-svn"] => issue(type="svn", value=c.value);c:[type=="x-ms-attestation-type"] => issue(type="tee", value=c.value);};`

func TestPolicyCheck(t *testing.T) {
	good := writePolicyFile(t, "good.policy", policyCLIDefault)
	stdout, stderr, err := runPolicyCmd(t, "", "check", good)
	if err != nil || stdout != "" || stderr != "" {
		t.Fatalf("valid policy: err %v, stdout %q, stderr %q", err, stdout, stderr)
	}

	bad := writePolicyFile(t, "bad.policy", "version=1.0;\nauthorizationrules{\n  c:[type=\"secureBootEnabled\"] => permit();\n};\n")
	stdout, stderr, err = runPolicyCmd(t, "", "check", bad)
	if err == nil {
		t.Fatal("invalid policy: no error")
	}
	want := bad + `:3:10: expected comparison operator, found "=" (a condition compares: write type=="…"; "=" only assigns in actions)` + "\n"
	if stderr != want || stdout != "" {
		t.Fatalf("stderr\n got %q\nwant %q", stderr, want)
	}
	var pe *policy.ParseError
	var me *maaerr.Error
	if !errors.As(err, &pe) || !errors.As(err, &me) || me.Code != maaerr.PolicyParsingError {
		t.Fatalf("error %v does not wrap the parse error", err)
	}

	// stdin, a missing file, and wrong usage.
	if _, stderr, err := runPolicyCmd(t, "version=1.0;", "check", "-"); err == nil || stderr != "-:1:13: expected authorizationrules section (it is required), found end of policy\n" {
		t.Fatalf("stdin: %v %q", err, stderr)
	}
	if _, stderr, err := runPolicyCmd(t, "", "check", filepath.Join(t.TempDir(), "nope")); err == nil || !strings.Contains(stderr, "no such file") {
		t.Fatalf("missing file: %v %q", err, stderr)
	}
	if _, _, err := runPolicyCmd(t, "", "check"); err == nil {
		t.Fatal("no argument: no error")
	}
}

func TestPolicyHash(t *testing.T) {
	f := writePolicyFile(t, "default.policy", policyCLIDefault)
	stdout, _, err := runPolicyCmd(t, "", "hash", f)
	if err != nil || stdout != "ViVGS4BYl70X8eUrgryHg0TtbEk9WtIc6DtTBEFxaWc\n" {
		t.Fatalf("hash: %q %v", stdout, err)
	}
	stdout, _, err = runPolicyCmd(t, policyCLIDefault, "hash", "-")
	if err != nil || stdout != "ViVGS4BYl70X8eUrgryHg0TtbEk9WtIc6DtTBEFxaWc\n" {
		t.Fatalf("hash stdin: %q %v", stdout, err)
	}
}

func TestPolicyEval(t *testing.T) {
	def := writePolicyFile(t, "default.policy", policyCLIDefault)
	sgxClaims := `{"x-ms-attestation-type":"sgx","x-ms-sgx-is-debuggable":true,
	  "x-ms-sgx-mrenclave":"292a1f4b519e46627eb2478a3d9851405653c5b4b0a6925de843834d9216850e",
	  "x-ms-sgx-mrsigner":"4aea5f9a0ed04b11f889aadfe6a1d376213a29a95a85ce7337ae6f7fece6610c",
	  "x-ms-sgx-product-id":1,"x-ms-sgx-svn":1,
	  "x-ms-sgx-collateral":{"qeidhash":"7701f647"}}`
	claims := writePolicyFile(t, "claims.json", sgxClaims)

	stdout, stderr, err := runPolicyCmd(t, "", "eval", "--policy", def, "--claims", claims)
	if err != nil || stderr != "" {
		t.Fatalf("eval: %v %q", err, stderr)
	}
	want := `{
  "authorized": true,
  "claims": {
    "is-debuggable": true,
    "product-id": 1,
    "sgx-mrenclave": "292a1f4b519e46627eb2478a3d9851405653c5b4b0a6925de843834d9216850e",
    "sgx-mrsigner": "4aea5f9a0ed04b11f889aadfe6a1d376213a29a95a85ce7337ae6f7fece6610c",
    "svn": 1,
    "tee": "sgx"
  },
  "properties": {
    "x-ms-sgx-tcbidentifier": "azuredefault"
  }
}
`
	if stdout != want {
		t.Fatalf("stdout\n%s\nwant\n%s", stdout, want)
	}

	// Array form, JSON-valued claims, a repeated issued type, issuer default.
	arr := writePolicyFile(t, "claims-array.json", `[
	  {"type":"events","value":{"Events":[{"EventSeq":1,"PcrIndex":12},{"EventSeq":2,"PcrIndex":13}]}},
	  {"type":"n","value":5,"valueType":"Integer","issuer":"CustomClaim"}]`)
	pol := writePolicyFile(t, "tpm.policy", "version=1.2;\nauthorizationrules{ => permit(); };\nissuancerules{\n"+
		"c:[type==\"events\", issuer==\"AttestationService\"] => issue(type=\"seq\", value=JsonToClaimValue(JmesPath(c.value, \"Events[].EventSeq\")));\n"+
		"c:[type==\"n\", issuer==\"CustomClaim\"] => issue(type=\"n\", value=c.value);\n};")
	stdout, _, err = runPolicyCmd(t, "", "eval", "--policy", pol, "--claims", arr)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(got); string(b) != `{"authorized":true,"claims":{"n":5,"seq":[1,2]},"properties":{}}` {
		t.Fatalf("array form: %s", b)
	}

	// Not authorized: exit 0, authorized false, reason on stderr.
	deny := writePolicyFile(t, "deny.policy", "version=1.0; authorizationrules{ [type==\"x-ms-sgx-is-debuggable\", value==true] => deny(); => permit(); };")
	stdout, stderr, err = runPolicyCmd(t, "", "eval", "--policy", deny, "--claims", claims)
	if err != nil {
		t.Fatalf("deny: %v", err)
	}
	if stdout != "{\n  \"authorized\": false,\n  \"claims\": {},\n  \"properties\": {}\n}\n" ||
		stderr != deny+": not authorized: "+policy.MsgDenyIssued+"\n" {
		t.Fatalf("deny: stdout %q stderr %q", stdout, stderr)
	}
	nopermit := writePolicyFile(t, "nopermit.policy", "version=1.0; authorizationrules{ [type==\"x-ms-sgx-svn\", value>1] => permit(); };")
	if stdout, stderr, err = runPolicyCmd(t, "", "eval", "--policy", nopermit, "--claims", claims); err != nil ||
		!strings.Contains(stdout, `"authorized": false`) || !strings.Contains(stderr, policy.MsgNoPermit) {
		t.Fatalf("no permit: %v %q %q", err, stdout, stderr)
	}
}

func TestPolicyEvalErrors(t *testing.T) {
	good := writePolicyFile(t, "p.policy", "version=1.2; authorizationrules{=> permit();}; issuancerules{\nc:[type==\"j\"] => issue(type=\"r\", value=JsonToClaimValue(c.value));\n};")
	claims := writePolicyFile(t, "c.json", `{"j":"1.5"}`)
	cases := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"bad policy", []string{"--policy", writePolicyFile(t, "bad.policy", "version=1.0; authorizationrules{=> permit()};"), "--claims", claims},
			`:1:44: expected ";" after the rule's action, found "}"`},
		{"evaluation error", []string{"--policy", good, "--claims", claims},
			`:2:40: JsonToClaimValue: JSON number 1.5 is a fraction; only integers can be converted to a claim value`},
		{"claims not JSON", []string{"--policy", good, "--claims", writePolicyFile(t, "x.json", `{"a":`)}, `: claims: claim "a": unexpected EOF`},
		{"claims fraction", []string{"--policy", good, "--claims", writePolicyFile(t, "x.json", `{"a":1.5}`)}, `claims: claim "a": JSON number 1.5 is a fraction`},
		{"claims null", []string{"--policy", good, "--claims", writePolicyFile(t, "x.json", `{"a":null}`)}, `claims: claim "a": null is not a claim value`},
		{"claims scalar", []string{"--policy", good, "--claims", writePolicyFile(t, "x.json", `42`)}, `claims: expected a JSON object or array`},
		{"claims wrong valueType", []string{"--policy", good, "--claims", writePolicyFile(t, "x.json", `[{"type":"a","value":"1","valueType":"Integer"}]`)},
			`claims: claim "a" (item 0): valueType Integer does not match the value "1"`},
		{"claims unknown field", []string{"--policy", good, "--claims", writePolicyFile(t, "x.json", `[{"type":"a","value":1,"issuers":"x"}]`)}, `unknown field "issuers"`},
		{"claims missing type", []string{"--policy", good, "--claims", writePolicyFile(t, "x.json", `[{"value":1}]`)}, `claims: item 0 has no "type"`},
		{"missing flag", []string{"--policy", good}, ``},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := runPolicyCmd(t, "", append([]string{"eval"}, tc.args...)...)
			if err == nil {
				t.Fatalf("no error; stdout %q", stdout)
			}
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr\n got %q\nwant …%s…", stderr, tc.stderr)
			}
		})
	}
}
