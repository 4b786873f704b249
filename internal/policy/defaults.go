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

// defaultCVMPolicy is Maat's default for SevSnpVm (decision D7 of the CVM
// contract): permit, issue nothing, so tokens carry exactly the verified
// x-ms-sevsnpvm-* claims, as MAA's default-policy tokens do. MAA's own
// default text is not public: its hash is 9NY0VnTQ-IiBriBplVUpFbczcDaEBUwsiFYAzHu_gco
// on every SevSnpVm token seen (2022, 2023, 2025), and no permit-all,
// issue-nothing variant hashed so far matches it (15,552 compact and
// whitespace variants tried). This text's hash is therefore different
// (DefaultSevSnpVmPolicyHash): relying parties that pin MAA's hash must
// re-pin for Maat.
const defaultCVMPolicy = `version= 1.0;authorizationrules{=> permit();};issuancerules{};`

// DefaultSevSnpVmPolicyHash is the x-ms-policy-hash of Maat's default
// SevSnpVm policy. It differs from MAA's (MAASevSnpVmDefaultPolicyHash).
const DefaultSevSnpVmPolicyHash = "NV1ac05uHVG8H7jncd14tq1VD6ijcYY6Xsnf6cZ8ijU"

// MAASevSnpVmDefaultPolicyHash is the x-ms-policy-hash MAA reports for its
// (unpublished) default SevSnpVm policy.
const MAASevSnpVmDefaultPolicyHash = "9NY0VnTQ-IiBriBplVUpFbczcDaEBUwsiFYAzHu_gco"

// defaultTDXPolicy is Maat's default for TdxVm (decision D7): permit and
// issue nothing, so a token carries only the verified claims. MAA's own
// TdxVm default is not public (the hash B56nbp5s… in MAA's docs belongs to
// a custom policy), so x-ms-policy-hash differs from MAA's: it is
// DefaultTDXPolicyHash. See docs/TDX.md.
const defaultTDXPolicy = defaultCVMPolicy

// DefaultTDXPolicyHash is the x-ms-policy-hash of Maat's default TdxVm
// policy.
const DefaultTDXPolicyHash = "NV1ac05uHVG8H7jncd14tq1VD6ijcYY6Xsnf6cZ8ijU"

// defaultAzureGuestPolicy is Maat's default for AzureGuest (decision D7 of
// the CVM contract, inferred from MAA refusing guests without secure boot):
// permit only when the TCG log shows secure boot on, issue nothing. MAA's
// own text is not public (its hash is MAAAzureGuestDefaultPolicyHash on
// every shared-instance token 2022–2025), so x-ms-policy-hash differs:
// relying parties that pin MAA's hash must re-pin for Maat.
const defaultAzureGuestPolicy = `version= 1.0;authorizationrules{c:[type=="secureboot", value==true] => permit();};issuancerules{};`

// MAAAzureGuestDefaultPolicyHash is the x-ms-policy-hash MAA reports for its
// (unpublished) default AzureGuest policy.
const MAAAzureGuestDefaultPolicyHash = "wm9mHlvTU82e8UqoOy1Yj1FBRSNkfe99-69IYDq9eWs"

// Default returns the default policy text for an attestation type (matched
// case-insensitively) and true: MAA's own for SgxEnclave and OpenEnclave,
// Maat's permit-all for SevSnpVm and TdxVm, secure-boot-required for
// AzureGuest. For any other type (Tpm, which
// MAA refuses to attest until a policy is set, and types whose default is
// not decided) it returns "" and false.
func Default(attestationType string) (text string, ok bool) {
	switch strings.ToLower(attestationType) {
	case "sgxenclave", "openenclave":
		return defaultSGXPolicy, true
	case "sevsnpvm":
		return defaultCVMPolicy, true
	case "tdxvm":
		return defaultTDXPolicy, true
	case "azureguest":
		return defaultAzureGuestPolicy, true
	}
	return "", false
}

func mustParse(text string) func() *Policy {
	return sync.OnceValue(func() *Policy {
		p, err := Parse(text)
		if err != nil {
			panic("policy: default policy does not parse: " + err.Error())
		}
		return p
	})
}

var parsedDefaults = map[string]func() *Policy{
	defaultSGXPolicy:        mustParse(defaultSGXPolicy),
	defaultCVMPolicy:        mustParse(defaultCVMPolicy),
	defaultAzureGuestPolicy: mustParse(defaultAzureGuestPolicy),
}

// ParsedDefault is Default, parsed once and shared (a *Policy is immutable
// and safe for concurrent use). It returns nil and false when the
// attestation type has no default policy.
func ParsedDefault(attestationType string) (*Policy, bool) {
	text, ok := Default(attestationType)
	if !ok {
		return nil, false
	}
	return parsedDefaults[text](), true
}

// Hash returns MAA's policy hash (the x-ms-policy-hash claim) of a policy
// text: BASE64URL(SHA256(UTF8(BASE64URL(UTF8(text))))), base64url without
// padding. It hashes the exact bytes given (a trailing newline changes it).
func Hash(text string) string {
	inner := base64.RawURLEncoding.EncodeToString([]byte(text))
	sum := sha256.Sum256([]byte(inner))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
