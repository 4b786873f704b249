// Package evidence is the contract between Maat's attestation pipeline and
// the per-TEE verifiers (sgx, openenclave, tpm, sevsnp, tdx, azureguest):
// the attestation Type, the Verifier interface, and the Verified result.
//
// It holds no TEE knowledge and imports no HTTP, storage or policy code. A
// verifier returns only what it verified (or a *maaerr.Error with MAA's code):
// nothing unverified can reach the policy engine.
package evidence

import (
	"context"
	"strings"
	"time"

	"github.com/maat-attest/maat/internal/maaerr"
)

// Type is an attestation type, spelled as MAA spells it in paths and enums.
type Type string

// The attestation types MAA defines.
const (
	SgxEnclave  Type = "SgxEnclave"
	OpenEnclave Type = "OpenEnclave"
	Tpm         Type = "Tpm"
	SevSnpVm    Type = "SevSnpVm"
	TdxVm       Type = "TdxVm"
	AzureGuest  Type = "AzureGuest"
)

// Types returns every attestation type MAA defines, in MAA's order.
func Types() []Type {
	return []Type{SgxEnclave, OpenEnclave, Tpm, SevSnpVm, TdxVm, AzureGuest}
}

// String returns MAA's spelling.
func (t Type) String() string { return string(t) }

// ParseType returns MAA's spelling of an attestation type given in any case.
// It returns an InvalidParameter *maaerr.Error naming the supported types for
// anything else.
func ParseType(s string) (Type, error) {
	for _, t := range Types() {
		if strings.EqualFold(s, string(t)) {
			return t, nil
		}
	}
	names := make([]string, 0, 6)
	for _, t := range Types() {
		names = append(names, string(t))
	}
	return "", maaerr.New(maaerr.InvalidParameter, "The attestation type '%s' is not supported. Supported types: %s.", s, strings.Join(names, ", "))
}

// Config holds the properties the instance's policy sets in its
// configurationrules (for example require_valid_aik_cert,
// required_pcr_mask, x-ms-sgx-tcbidentifier), evaluated before
// verification because they decide how to verify. Values are bool, int64 or
// string. A nil Config means the policy sets none.
type Config map[string]any

// Bool returns the boolean property name, and whether it is set as a bool.
func (c Config) Bool(name string) (bool, bool) {
	b, ok := c[name].(bool)
	return b, ok
}

// Int returns the integer property name, and whether it is set as an integer.
func (c Config) Int(name string) (int64, bool) {
	n, ok := c[name].(int64)
	return n, ok
}

// String returns the string property name, and whether it is set as a string.
func (c Config) String(name string) (string, bool) {
	s, ok := c[name].(string)
	return s, ok
}

// Verifier verifies one attestation type's evidence.
//
// raw is the evidence exactly as the client sent it, decoded from its
// transport encoding: the quote (SgxEnclave, TdxVm), the report or evidence
// (OpenEnclave), the decoded "report" JSON (SevSnpVm), the protocol message
// (Tpm, whose challenge step the pipeline serves through Challenger), the
// AttestationInfo (AzureGuest). cfg holds the policy's configuration
// properties. Verify returns the verified claims, or nil and a *maaerr.Error
// (InvalidParameter or InvalidQuote for evidence problems).
type Verifier interface {
	Verify(ctx context.Context, raw []byte, cfg Config) (*Verified, error)
}

// Challenger is implemented by verifiers of multi-message protocols (Tpm).
// Exchange answers a message that is not the evidence itself (the TPM Init
// message) without policy or token; handled reports false when msg is the
// evidence, which the pipeline then passes to Verify. Wrap turns the issued
// token into the protocol's final message (the TPM Report message).
type Challenger interface {
	Exchange(ctx context.Context, msg []byte) (answer []byte, handled bool, err error)
	Wrap(token string) []byte
}

// Verified is the outcome of a successful verification.
type Verified struct {
	// AttestationType is the x-ms-attestation-type claim ("sgx", "tpm",
	// "sevsnpvm", "tdxvm", "azurevm").
	AttestationType string

	// Claims are the verified incoming claims under MAA's names and Maat's
	// (x-maat-*): the policy sees them (issuer AttestationService) and,
	// unless IssuedOnly, the token carries them. Values are bool, int,
	// int64, string, or JSON-marshalable objects and arrays (JSON-valued
	// claims for the policy).
	Claims map[string]any
	// ReadOnly names claims in Claims the policy may test but not re-issue.
	ReadOnly []string
	// CustomClaims are claims the evidence asserts about itself (TPM request
	// custom claims): the policy sees them with issuer CustomClaim; the token
	// does not carry them.
	CustomClaims map[string]any
	// TokenClaims are added to the token after the policy ran and are
	// invisible to it (legacy aliases, cnf, rp_data, the selected TCB
	// baseline). A claim the policy issued is not overwritten.
	TokenClaims map[string]any
	// IssuedOnly: the token carries only the claims the policy issued plus
	// TokenClaims and the pipeline's claims (MAA's Tpm tokens), not Claims.
	IssuedOnly bool
	// NoPolicyClaim: the token has no x-ms-policy claim (MAA's Tpm tokens).
	NoPolicyClaim bool
	// PolicyClaimIfIssued: the token has an x-ms-policy claim only when the
	// policy issued at least one claim (MAA's SevSnpVm, TdxVm and AzureGuest
	// tokens; decision D8).
	PolicyClaimIfIssued bool

	// RuntimeData and InitTimeData are the report fields client runtime and
	// init-time data bind to (nil: the type takes no such data).
	RuntimeData  *Binding
	InitTimeData *Binding
	// EvidenceRuntimeJSON is runtime data the evidence itself carries,
	// already bound to the verified report by the verifier (SevSnpVm's raw
	// HCL report: its runtime claims). Unless the client sends JSON runtime
	// data (bound to RuntimeData and used instead), it becomes x-ms-runtime
	// exactly as JSON runtime data does.
	EvidenceRuntimeJSON []byte
	// BinaryRuntimeClaims are the claims that carry binary runtime data,
	// base64url-encoded (SGX: x-ms-sgx-ehd and the legacy aas-ehd, maa-ehd).
	BinaryRuntimeClaims []string

	// Token adjusts the token the pipeline issues.
	Token TokenOptions

	// Seal, when set, turns the issued token into the response's token
	// string (AzureGuest seals it to the guest's TPM EncKey). Its error is
	// the pipeline's (an internal error). Nil: the token is returned as is.
	Seal func(token string) (string, error)

	// Detail is the verifier's own result (for example *sgx.Result), for
	// diagnostics such as `maat evidence verify`. The pipeline ignores it:
	// nothing in it reaches a policy or a token.
	Detail any
}

// Binding is a report field that client data must match: SHA-256 of the data
// must equal Value, or, when SHA384 is set, SHA-384 of the data may equal
// SHA384 instead (TDX's MRCONFIGID takes either, CVM contract U3).
type Binding struct {
	// Field names the report field in error messages ("report_data[0:32]").
	Field string
	// Value is the SHA-256 target; nil when only SHA384 applies.
	Value  []byte
	SHA384 []byte
}

// TokenOptions are per-attestation token settings a verifier derives from
// its configuration properties.
type TokenOptions struct {
	// Lifetime overrides the instance's token lifetime when > 0.
	Lifetime time.Duration
	// X5C puts the signing certificate chain into the token header; X5T its
	// thumbprint instead.
	X5C, X5T bool
}
