package attestation

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/maat-attest/maat/internal/evidence/tpm"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/policy"
	"github.com/maat-attest/maat/internal/token"
)

// TPM policy properties (configurationrules) and their MAA defaults.
const (
	propRequireValidAIK  = "require_valid_aik_cert"
	propRequiredPCRMask  = "required_pcr_mask"
	propReportValidity   = "report_validity_in_minutes"
	propOmitX5C          = "omit_x5c"
	defaultPCRMask       = 0xFFFFFF
	defaultReportMinutes = 24 * 60
	maxReportMinutes     = 365 * 24 * 60
)

// TPMAttester runs MAA's /attest/Tpm message exchange: Init → Challenge,
// Request → Report. Fields are set at construction.
type TPMAttester struct {
	Service  *tpm.Service
	Policies *Policies
	Tokens   Issuer
	Fresh    func() error
}

// Exchange takes one client message (the bytes inside "data") and returns
// the answer message (to be base64url-encoded into "data"). Errors:
// InvalidParameter for malformed messages and evidence, InvalidOperation
// when no TPM policy is set, PolicyEvaluationError when the policy does not
// authorize.
func (a *TPMAttester) Exchange(ctx context.Context, data []byte) ([]byte, error) {
	msg, err := tpm.DecodeMessage(data)
	if err != nil {
		return nil, err
	}
	if msg.Kind == tpm.KindInit {
		_, _, out, err := a.Service.Challenge()
		return out, err
	}
	if a.Fresh != nil {
		if err := a.Fresh(); err != nil {
			return nil, err
		}
	}
	ap, err := a.Policies.Get(ctx, TypeTPM)
	if err != nil {
		return nil, err
	}
	if ap.Policy == nil {
		return nil, maaerr.New(maaerr.InvalidOperation, "A TPM attestation policy has not been set on the attestation provider.")
	}
	// The configuration rules decide how to verify: evaluate them first (no
	// incoming claims are needed; authorization is decided later).
	props, _ := ap.Policy.Evaluate(ctx, nil)
	vo := tpm.VerifyOptions{RequireValidAIKCert: true, RequiredPCRMask: defaultPCRMask}
	if props != nil {
		if v, ok := props.Property(propRequireValidAIK); ok {
			if b, ok := v.Bool(); ok {
				vo.RequireValidAIKCert = b
			}
		}
		if v, ok := props.Property(propRequiredPCRMask); ok {
			if n, ok := v.Int(); ok && n >= 0 && n <= 0xFFFFFF {
				vo.RequiredPCRMask = uint32(n)
			}
		}
	}
	res, err := a.Service.Verify(ctx, msg.Request, vo)
	if err != nil {
		return nil, err
	}
	incoming, err := tpmIncoming(res)
	if err != nil {
		return nil, err
	}
	result, err := ap.Policy.Evaluate(ctx, incoming)
	if err != nil {
		return nil, asPolicyError(err, maaerr.PolicyEvaluationError)
	}
	claims := result.ClaimsJSON()
	claims["cnf"] = map[string]any{"jwk": res.RequestKeyJWK}
	if res.RPData != nil {
		claims["rp_data"] = jose.B64.EncodeToString(res.RPData)
	}
	claims["x-ms-attestation-type"] = "tpm"
	claims["x-ms-policy-hash"] = ap.Policy.Hash()
	opts := token.Options{Lifetime: defaultReportMinutes * time.Minute, X5C: true}
	if v, ok := result.Property(propReportValidity); ok {
		if n, ok := v.Int(); ok && n > 0 {
			opts.Lifetime = time.Duration(min(n, maxReportMinutes)) * time.Minute
		}
	}
	if v, ok := result.Property(propOmitX5C); ok {
		if b, ok := v.Bool(); ok && b {
			opts.X5C, opts.X5T = false, true
		}
	}
	tok, err := a.Tokens.Issue(claims, opts)
	if err != nil {
		return nil, err
	}
	return tpm.EncodeReport(tok), nil
}

// tpmIncoming turns the verified TPM claims into policy claims: service
// claims (JSON-valued ones such as events and pcrs as JSON text; pcrs
// read-only), and the request's custom claims with issuer CustomClaim.
func tpmIncoming(res *tpm.Result) ([]policy.Claim, error) {
	var out []policy.Claim
	add := func(m map[string]any, issuer string) error {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		cs, err := policy.ClaimsFromJSON(b)
		if err != nil {
			return err
		}
		for _, c := range cs {
			c.Issuer = issuer
			c.ReadOnly = slices.Contains(tpm.ReadOnlyClaims, c.Type)
			out = append(out, c)
		}
		return nil
	}
	if err := add(res.Claims, policy.IssuerService); err != nil {
		return nil, maaerr.Wrap(err, maaerr.Internal, "converting TPM claims failed")
	}
	if len(res.CustomClaims) > 0 {
		if err := add(res.CustomClaims, policy.IssuerCustom); err != nil {
			return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "The request's custom claims are invalid.")
		}
	}
	return out, nil
}
