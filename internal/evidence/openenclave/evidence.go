package openenclave

import (
	"context"
	"slices"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/evidence/sgx"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/maaerr"
)

// EvidenceVerifier verifies OpenEnclave reports and evidence for the
// attestation pipeline (evidence.Verifier). The SGX quote inside is
// appraised exactly as an SgxEnclave quote (sgx.Appraise), so both types
// yield the same claims.
//
// Custom claims carried by OE evidence (SGX_ECDSA format) are verified: they
// are covered by the report data hash. MAA defines no token claim for them,
// so the token does not carry them; they are offered to the policy as
// claims with issuer CustomClaim, typed by their name and valued by the
// base64url of their bytes, so a policy can authorize on them
// (c:[type=="name", issuer=="CustomClaim"]). Two claims with one name are
// refused: a policy must see one value per name.
type EvidenceVerifier struct {
	v      *Verifier
	accept []collateral.TCBStatus
	call   []sgx.CallOption
}

var _ evidence.Verifier = (*EvidenceVerifier)(nil)

// NewEvidenceVerifier returns the OpenEnclave verifier over v; accept is as
// for sgx.NewEvidenceVerifier.
func NewEvidenceVerifier(v *sgx.Verifier, accept []collateral.TCBStatus, call ...sgx.CallOption) *EvidenceVerifier {
	if accept == nil {
		accept = sgx.DefaultAcceptedTCB
	}
	return &EvidenceVerifier{v: NewVerifier(v), accept: slices.Clone(accept), call: slices.Clone(call)}
}

// Verify implements evidence.Verifier: raw is the OE report or evidence.
func (e *EvidenceVerifier) Verify(ctx context.Context, raw []byte, cfg evidence.Config) (*evidence.Verified, error) {
	opts := e.call
	if b, err := sgx.BaselineOption(cfg); err != nil {
		return nil, err
	} else if b != nil {
		opts = append(slices.Clone(opts), b)
	}
	res, err := e.v.Verify(ctx, raw, opts...)
	if err != nil {
		return nil, err
	}
	ver, err := sgx.Appraise(res.Result, e.accept, cfg)
	if err != nil {
		return nil, err
	}
	ver.Detail = res
	if len(res.CustomClaims) > 0 {
		ver.CustomClaims = make(map[string]any, len(res.CustomClaims))
		for _, c := range res.CustomClaims {
			if _, dup := ver.CustomClaims[c.Name]; dup {
				return nil, maaerr.New(maaerr.InvalidParameter, "The OpenEnclave evidence carries the custom claim %q twice.", c.Name)
			}
			ver.CustomClaims[c.Name] = jose.B64.EncodeToString(c.Value)
		}
	}
	return ver, nil
}
