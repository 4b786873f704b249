package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/maat-attest/maat/internal/policy"
)

func ExamplePolicy_Evaluate() {
	p, err := policy.Parse(`version=1.0;
authorizationrules {
    [type=="x-ms-sgx-is-debuggable", value==false] && [type=="x-ms-sgx-svn", value>=1] => permit();
};
issuancerules {
    c:[type=="x-ms-sgx-mrsigner"] => issue(type="signer", value=c.value);
};`)
	if err != nil {
		fmt.Println(err)
		return
	}
	incoming := []policy.Claim{
		policy.ServiceClaim("x-ms-sgx-is-debuggable", policy.Boolean(false)),
		policy.ServiceClaim("x-ms-sgx-svn", policy.Integer(2)),
		policy.ServiceClaim("x-ms-sgx-mrsigner", policy.String("4aea5f9a")),
	}
	res, err := p.Evaluate(context.Background(), incoming)
	if err != nil {
		fmt.Println(err)
		return
	}
	out, _ := json.Marshal(res.ClaimsJSON())
	fmt.Println(res.Authorized, string(out))

	// A debuggable enclave: no permit fires.
	incoming[0] = policy.ServiceClaim("x-ms-sgx-is-debuggable", policy.Boolean(true))
	res, err = p.Evaluate(context.Background(), incoming)
	fmt.Println(res.Authorized, errors.Is(err, policy.ErrNotAuthorized))
	// Output:
	// true {"signer":"4aea5f9a"}
	// false true
}

func ExampleParse_error() {
	_, err := policy.Parse("version=1.0;\nauthorizationrules {\n    [type=\"x\"] => permit();\n};")
	var pe *policy.ParseError
	if errors.As(err, &pe) {
		fmt.Printf("line %d, column %d: found %s, expected %s\n", pe.Line, pe.Col, pe.Found, pe.Expected)
	}
	// Output:
	// line 3, column 10: found "=", expected "=="
}

func ExampleHash() {
	text, _ := policy.Default("SgxEnclave")
	fmt.Println(policy.Hash(text))
	// Output:
	// ViVGS4BYl70X8eUrgryHg0TtbEk9WtIc6DtTBEFxaWc
}
