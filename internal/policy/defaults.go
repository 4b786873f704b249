package policy

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"sync"
)

// defaultSGXPolicy is, byte for byte, the policy MAA serves for SgxEnclave
// and OpenEnclave on an instance whose policy was never set (GET
// /policies/SgxEnclave in the azure-sdk-for-cpp recordings, 2022-11-17). Its
// hash is MAA's ViVGS4BYl70X8eUrgryHg0TtbEk9WtIc6DtTBEFxaWc.
const defaultSGXPolicy = `version= 1.1;configurationrules{=> issueproperty(type="x-ms-sgx-tcbidentifier", value="azuredefault");};authorizationrules{=> permit();};issuancerules{c:[type=="x-ms-sgx-is-debuggable"] => issue(type="is-debuggable", value=c.value);c:[type=="x-ms-sgx-mrsigner"] => issue(type="sgx-mrsigner", value=c.value);c:[type=="x-ms-sgx-mrenclave"] => issue(type="sgx-mrenclave", value=c.value);c:[type=="x-ms-sgx-product-id"] => issue(type="product-id", value=c.value);c:[type=="x-ms-sgx-svn"] => issue(type="svn", value=c.value);c:[type=="x-ms-attestation-type"] => issue(type="tee", value=c.value);};`

// DefaultSGXPolicyHash is the x-ms-policy-hash MAA reports for its default
// SgxEnclave / OpenEnclave policy.
const DefaultSGXPolicyHash = "ViVGS4BYl70X8eUrgryHg0TtbEk9WtIc6DtTBEFxaWc"

// Default returns the default policy text for an attestation type
// ("SgxEnclave" or "OpenEnclave", matched case-insensitively) and true. For
// any other type (Tpm, which MAA refuses to attest until a policy is set, and
// types whose MAA default we have not observed) it returns "" and false.
func Default(attestationType string) (text string, ok bool) {
	switch strings.ToLower(attestationType) {
	case "sgxenclave", "openenclave":
		return defaultSGXPolicy, true
	}
	return "", false
}

var parsedDefault = sync.OnceValue(func() *Policy {
	p, err := Parse(defaultSGXPolicy)
	if err != nil {
		panic("policy: default policy does not parse: " + err.Error())
	}
	return p
})

// ParsedDefault is Default, parsed once and shared (a *Policy is immutable
// and safe for concurrent use). It returns nil and false when the
// attestation type has no default policy.
func ParsedDefault(attestationType string) (*Policy, bool) {
	if _, ok := Default(attestationType); !ok {
		return nil, false
	}
	return parsedDefault(), true
}

// Hash returns MAA's policy hash (the x-ms-policy-hash claim) of a policy
// text: BASE64URL(SHA256(UTF8(BASE64URL(UTF8(text))))), base64url without
// padding. It hashes the exact bytes given (a trailing newline changes it).
func Hash(text string) string {
	inner := base64.RawURLEncoding.EncodeToString([]byte(text))
	sum := sha256.Sum256([]byte(inner))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
