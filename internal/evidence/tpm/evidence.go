package tpm

import (
	"context"
	"time"

	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/maaerr"
)

// TPM policy properties (configurationrules) and their MAA defaults.
const (
	PropRequireValidAIK  = "require_valid_aik_cert"
	PropRequiredPCRMask  = "required_pcr_mask"
	PropReportValidity   = "report_validity_in_minutes"
	PropOmitX5C          = "omit_x5c"
	DefaultPCRMask       = 0xFFFFFF
	DefaultReportMinutes = 24 * 60
	MaxReportMinutes     = 365 * 24 * 60
)

// EvidenceVerifier serves MAA's /attest/Tpm protocol for the attestation
// pipeline: it answers the Init message with a challenge (evidence.Challenger)
// and verifies the Request message (evidence.Verifier) with the options the
// policy's configuration rules set. The Report message wraps the token.
type EvidenceVerifier struct {
	svc *Service
}

var (
	_ evidence.Verifier   = (*EvidenceVerifier)(nil)
	_ evidence.Challenger = (*EvidenceVerifier)(nil)
)

// NewEvidenceVerifier returns the Tpm verifier over svc.
func NewEvidenceVerifier(svc *Service) *EvidenceVerifier { return &EvidenceVerifier{svc: svc} }

// Exchange implements evidence.Challenger: an Init message is answered with
// a Challenge message; a Request message is left to Verify (handled false).
// Malformed messages are InvalidParameter.
func (e *EvidenceVerifier) Exchange(_ context.Context, msg []byte) ([]byte, bool, error) {
	m, err := DecodeMessage(msg)
	if err != nil {
		return nil, true, err
	}
	if m.Kind != KindInit {
		return nil, false, nil
	}
	_, _, out, err := e.svc.Challenge()
	return out, true, err
}

// Wrap implements evidence.Challenger: the Report message carrying token.
func (e *EvidenceVerifier) Wrap(token string) []byte { return EncodeReport(token) }

// Verify implements evidence.Verifier: raw is the Request message. The
// configuration properties require_valid_aik_cert (default true) and
// required_pcr_mask (default all 24 PCRs) decide what the quote must prove;
// report_validity_in_minutes and omit_x5c shape the token.
func (e *EvidenceVerifier) Verify(ctx context.Context, raw []byte, cfg evidence.Config) (*evidence.Verified, error) {
	m, err := DecodeMessage(raw)
	if err != nil {
		return nil, err
	}
	if m.Kind != KindRequest {
		return nil, maaerr.New(maaerr.InvalidParameter, "TPM protocol message is not a Request")
	}
	vo := VerifyOptions{RequireValidAIKCert: true, RequiredPCRMask: DefaultPCRMask}
	if b, ok := cfg.Bool(PropRequireValidAIK); ok {
		vo.RequireValidAIKCert = b
	}
	if n, ok := cfg.Int(PropRequiredPCRMask); ok && n >= 0 && n <= 0xFFFFFF {
		vo.RequiredPCRMask = uint32(n)
	}
	res, err := e.svc.Verify(ctx, m.Request, vo)
	if err != nil {
		return nil, err
	}
	tokenClaims := map[string]any{"cnf": map[string]any{"jwk": res.RequestKeyJWK}}
	if res.AIKRoot != "" {
		// Which root vouched for the AIK (a dev server's simulator CA says
		// so in its name).
		tokenClaims["x-maat-tpm-aik-root"] = res.AIKRoot
	}
	if res.RPData != nil {
		tokenClaims["rp_data"] = jose.B64.EncodeToString(res.RPData)
	}
	topts := evidence.TokenOptions{Lifetime: DefaultReportMinutes * time.Minute, X5C: true}
	if n, ok := cfg.Int(PropReportValidity); ok && n > 0 {
		topts.Lifetime = time.Duration(min(n, MaxReportMinutes)) * time.Minute
	}
	if b, ok := cfg.Bool(PropOmitX5C); ok && b {
		topts.X5C, topts.X5T = false, true
	}
	return &evidence.Verified{
		AttestationType: "tpm",
		Claims:          res.Claims,
		ReadOnly:        ReadOnlyClaims,
		CustomClaims:    res.CustomClaims,
		TokenClaims:     tokenClaims,
		IssuedOnly:      true,
		NoPolicyClaim:   true,
		Token:           topts,
	}, nil
}
