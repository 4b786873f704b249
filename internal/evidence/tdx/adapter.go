package tdx

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/evidence/dcap"
	"github.com/maat-attest/maat/internal/maaerr"
)

// PropertyTCBIdentifier is the policy configuration property that selects
// the TDX TCB baseline (tcbEvaluationDataNumber) used for TCB Info and
// TD_QE identity: Maat's TDX counterpart of x-ms-sgx-tcbidentifier.
const PropertyTCBIdentifier = "x-maat-tdx-tcbidentifier"

// DefaultAcceptedTCB is decision D9's default for TdxVm: every status but
// Revoked, OutOfDate included. Unlike SGX's default it accepts OutOfDate
// because Azure's TDX hardware is OutOfDate against Intel's latest
// collateral while MAA attests it; the status is reported in
// attester_tcb_status and the policy or relying party decides.
func DefaultAcceptedTCB() []TCBStatus {
	return []TCBStatus{collateral.UpToDate, collateral.SWHardeningNeeded, collateral.ConfigurationNeeded,
		collateral.ConfigurationAndSWHardeningNeeded, collateral.OutOfDate, collateral.OutOfDateConfigurationNeeded}
}

// EvidenceVerifier is the evidence.Verifier of TdxVm: raw is the TD quote.
type EvidenceVerifier struct {
	v          *Verifier
	accept     []TCBStatus
	compliance *Compliance
}

// AdapterOption configures an EvidenceVerifier.
type AdapterOption func(*EvidenceVerifier)

// WithCompliance issues x-ms-compliance-status azure-compliant-cvm for TDs
// that meet c (decision D6); without it the claim is never issued.
func WithCompliance(c *Compliance) AdapterOption {
	return func(e *EvidenceVerifier) { e.compliance = c }
}

var _ evidence.Verifier = (*EvidenceVerifier)(nil)

// NewEvidenceVerifier returns the TdxVm adapter over v accepting the TCB
// statuses in accept (nil means DefaultAcceptedTCB()).
func NewEvidenceVerifier(v *Verifier, accept []TCBStatus, opts ...AdapterOption) *EvidenceVerifier {
	if accept == nil {
		accept = DefaultAcceptedTCB()
	}
	e := &EvidenceVerifier{v: v, accept: slices.Clone(accept)}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Verify verifies the TD quote raw, gates its TCB status and returns MAA's
// TdxVm claims (see Result.Claims). Runtime data binds to REPORTDATA[0:32]
// (SHA-256); init-time data to MRCONFIGID (see initTimeBinding). The policy
// property x-maat-tdx-tcbidentifier (a number) selects the TCB baseline.
//
// On failure it returns nil and a *maaerr.Error: the verifier's, or
// InvalidParameter for a TCB status the instance does not accept or a bad
// baseline property.
func (e *EvidenceVerifier) Verify(ctx context.Context, raw []byte, cfg evidence.Config) (*evidence.Verified, error) {
	var opts []dcap.CallOption
	if n, ok, err := tcbIdentifier(cfg); err != nil {
		return nil, err
	} else if ok {
		opts = append(opts, dcap.WithTCBEvaluationDataNumber(n))
	}
	res, err := e.v.Verify(ctx, raw, opts...)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(e.accept, res.TCBStatus) {
		names := make([]string, len(e.accept))
		for i, s := range e.accept {
			names[i] = string(s)
		}
		return nil, maaerr.Wrap(ErrTCBStatusNotAccepted, maaerr.InvalidParameter,
			"The TD quote's TCB status '%s' (FMSPC %s, TCB level %s, TDX module %s, TD QE %s) is not accepted by this instance (accepted: %s; set accept-tdx-tcb-status); advisories: %s.",
			res.TCBStatus, res.FMSPC, orNone(res.PlatformTCBStatus), orNone(res.ModuleStatus), res.QEStatus, strings.Join(names, ", "), strings.Join(res.AdvisoryIDs, ", "))
	}
	claims := res.Claims()
	b := &res.Report
	if e.compliance.Compliant(b) {
		claims[ClaimCompliance] = CompliantCVM
	}
	return &evidence.Verified{
		AttestationType: AttestationType,
		Claims:          claims,
		RuntimeData:     &evidence.Binding{Field: "REPORTDATA[0:32]", Value: slices.Clone(b.ReportData[:32])},
		InitTimeData:    initTimeBinding(b),
		// D8: real TdxVm tokens carry x-ms-policy only when the policy
		// issued something.
		PolicyClaimIfIssued: true,
		Detail:              res,
	}, nil
}

// initTimeBinding applies the contract's decision (U3) for TDX init-time
// data: SHA-256(data) zero-padded to 48 bytes, or SHA-384(data) (CoCo's
// convention), must equal MRCONFIGID. A MRCONFIGID whose last 16 bytes are
// not zero can only be a SHA-384.
func initTimeBinding(b *Report) *evidence.Binding {
	bind := &evidence.Binding{Field: "MRCONFIGID (SHA-384 of the init-time data)", SHA384: slices.Clone(b.MRConfigID[:])}
	if [16]byte(b.MRConfigID[32:48]) == ([16]byte{}) {
		bind.Field = "MRCONFIGID[0:32] (SHA-256 of the init-time data, zero-padded; or SHA-384 over all 48 bytes)"
		bind.Value = slices.Clone(b.MRConfigID[:32])
	}
	return bind
}

func tcbIdentifier(cfg evidence.Config) (int, bool, error) {
	if v, ok := cfg.Int(PropertyTCBIdentifier); ok {
		if v <= 0 || v > 1<<20 {
			return 0, false, maaerr.New(maaerr.InvalidParameter, "The policy's %s %d is not a TCB evaluation data number.", PropertyTCBIdentifier, v)
		}
		return int(v), true, nil
	}
	if s, ok := cfg.String(PropertyTCBIdentifier); ok {
		if s == "" || strings.EqualFold(s, "azuredefault") {
			return 0, false, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return 0, false, maaerr.New(maaerr.InvalidParameter, "The policy's %s %q is not a TCB evaluation data number.", PropertyTCBIdentifier, s)
		}
		return n, true, nil
	}
	return 0, false, nil
}

func orNone(s TCBStatus) string {
	if s == "" {
		return "none"
	}
	return string(s)
}
