package sgx

import (
	"context"
	"slices"
	"strings"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/maaerr"
)

// Maat-namespaced claims for what MAA does not expose under its own names:
// the SGX TCB appraisal of the evidence. They are incoming claims policies
// can test, and appear in the token.
const (
	ClaimTCBStatus   = "x-maat-sgx-tcb-status"     // string: UpToDate, SWHardeningNeeded, …
	ClaimAdvisoryIDs = "x-maat-sgx-advisory-ids"   // array of strings (JSON-valued for policies)
	ClaimQEStatus    = "x-maat-sgx-qe-status"      // string: the QE identity's TCB status
	ClaimFMSPC       = "x-maat-sgx-fmspc"          // string: lower hex
	ClaimTCBEvalNum  = "x-maat-sgx-tcb-eval-num"   // number: TCB evaluation data number
	ClaimCollExpired = "x-maat-collateral-expired" // bool, only when expired collateral was accepted
)

// PropTCBIdentifier is the policy property selecting a TCB baseline; MAA
// echoes it in the token as x-ms-sgx-tcbidentifier ("azuredefault" when the
// policy selects none, observed with a 1.0 draft policy).
const PropTCBIdentifier = "x-ms-sgx-tcbidentifier"

// DefaultAcceptedTCB is the default set of acceptable TCB statuses.
var DefaultAcceptedTCB = []collateral.TCBStatus{
	collateral.UpToDate, collateral.SWHardeningNeeded, collateral.ConfigurationNeeded, collateral.ConfigurationAndSWHardeningNeeded,
}

// EvidenceVerifier verifies SgxEnclave quotes for the attestation pipeline
// (evidence.Verifier): DCAP verification, then the instance's TCB
// acceptance, then MAA's claims.
type EvidenceVerifier struct {
	v      *Verifier
	accept []collateral.TCBStatus
	call   []CallOption
}

var _ evidence.Verifier = (*EvidenceVerifier)(nil)

// NewEvidenceVerifier returns the SgxEnclave verifier over v. accept lists
// the TCB statuses the instance accepts before any policy runs (nil:
// DefaultAcceptedTCB); the slice is copied. call options apply to every
// verification (the CLI's --pck-chain; the server passes none).
func NewEvidenceVerifier(v *Verifier, accept []collateral.TCBStatus, call ...CallOption) *EvidenceVerifier {
	if accept == nil {
		accept = DefaultAcceptedTCB
	}
	return &EvidenceVerifier{v: v, accept: slices.Clone(accept), call: slices.Clone(call)}
}

// Verify implements evidence.Verifier: raw is the quote.
func (e *EvidenceVerifier) Verify(ctx context.Context, raw []byte, cfg evidence.Config) (*evidence.Verified, error) {
	opts := append(slices.Clone(e.call), WithEvidence(raw))
	if b, err := BaselineOption(cfg); err != nil {
		return nil, err
	} else if b != nil {
		opts = append(opts, b)
	}
	res, err := e.v.Verify(ctx, raw, opts...)
	if err != nil {
		return nil, err
	}
	return Appraise(res, e.accept, cfg)
}

// Appraise applies the TCB acceptance to a verified result and returns the
// pipeline's view of it: MAA's x-ms-sgx-* claims, Maat's x-maat-sgx-* TCB
// claims, the report fields runtime data (report_data[0:32]) and init-time
// data (config_id[0:32]) bind to, and the token-only claims
// (maa-attestationcollateral, x-ms-sgx-tcbidentifier). A TCB status outside
// accept is an InvalidParameter error naming the status and the advisories.
// OpenEnclave evidence, which wraps an SGX quote, uses it too.
func Appraise(res *Result, accept []collateral.TCBStatus, cfg evidence.Config) (*evidence.Verified, error) {
	if !slices.Contains(accept, res.TCBStatus) {
		return nil, maaerr.New(maaerr.InvalidParameter, "The quote's TCB status '%s' is not accepted by this instance (accepted: %s; set accept-tcb-status); advisories: %s.",
			res.TCBStatus, joinStatuses(accept), strings.Join(res.AdvisoryIDs, ", "))
	}
	claims := res.Claims()
	claims[ClaimTCBStatus] = string(res.TCBStatus)
	claims[ClaimQEStatus] = string(res.QEStatus)
	ids := res.AdvisoryIDs
	if ids == nil {
		ids = []string{}
	}
	claims[ClaimAdvisoryIDs] = ids
	claims[ClaimFMSPC] = res.FMSPC
	claims[ClaimTCBEvalNum] = res.TCBEvaluationDataNumber
	if res.CollateralExpired {
		claims[ClaimCollExpired] = true
	}
	tcbID := any("azuredefault")
	if v, ok := cfg[PropTCBIdentifier]; ok {
		tcbID = v
	}
	return &evidence.Verified{
		AttestationType:     "sgx",
		Claims:              claims,
		RuntimeData:         &evidence.Binding{Field: "report_data[0:32]", Value: res.Report.ReportData[:32]},
		InitTimeData:        &evidence.Binding{Field: "config_id[0:32]", Value: res.Report.ConfigID[:32]},
		BinaryRuntimeClaims: []string{"x-ms-sgx-ehd", "aas-ehd", "maa-ehd"},
		TokenClaims: map[string]any{
			"maa-attestationcollateral": claims[ClaimCollateral],
			PropTCBIdentifier:           tcbID,
		},
		Detail: res,
	}, nil
}

func joinStatuses(ss []collateral.TCBStatus) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
}
