package sevsnp

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/maat-attest/maat/internal/evidence"
)

var _ evidence.Verifier = (*Verifier)(nil)

// Binding field names used in runtime/init-time data mismatch messages.
const (
	RuntimeDataField  = "report_data[0:32]"
	InitTimeDataField = "host_data"
)

// Verify implements evidence.Verifier for SevSnpVm: raw is the decoded
// "report" member of the request (the JSON {"SnpReport", "VcekCertChain",
// "Endorsements"}). It decodes it, verifies the report (VerifyReport), then
// applies the instance's minimum TCB before any policy runs, verifies UVM
// endorsements from configured issuers and computes the configured
// compliance status. Runtime data binds to report_data[0:32], init-time data
// to HOST_DATA. It returns a *maaerr.Error on failure: InvalidParameter for
// malformed evidence and a TCB below the minimum, InvalidQuote for failed
// verification.
func (v *Verifier) Verify(ctx context.Context, raw []byte, _ evidence.Config) (*evidence.Verified, error) {
	vd, err := v.verify(ctx, raw, v.now())
	return vd, toMaa(err)
}

func (v *Verifier) verify(ctx context.Context, raw []byte, at time.Time) (*evidence.Verified, error) {
	ev, err := DecodeEvidence(raw)
	if err != nil {
		return nil, err
	}
	r, err := ParseReport(ev.Report)
	if err != nil {
		return nil, err
	}
	res, err := v.verifyReport(ctx, r, ev.Chain, at)
	if err != nil {
		return nil, err
	}
	if res.TCBStatus == TCBBelowMinimum && !v.allowB {
		what, _ := belowTCB(res.ReportedTCB, *res.MinimumTCB)
		return nil, fmt.Errorf("%w: REPORTED_TCB %v of this %s is below the configured minimum %v (%s)", ErrTCBBelowMinimum, res.ReportedTCB, res.Product, *res.MinimumTCB, what)
	}
	claims := res.Claims()
	var compliance string
	if len(v.uvm) > 0 {
		for i, b := range ev.UVM {
			u, err := VerifyEndorsement(b, r, v.uvm, at)
			if err != nil {
				return nil, fmt.Errorf("Endorsements.Uvm[%d]: %w", i, err)
			}
			if u == nil {
				continue
			}
			claims[ClaimUVMEndorsement] = u.Claims
			if u.Issuer.GrantsCompliance {
				compliance = CompliantUVM
			}
			break
		}
	}
	if compliance == "" && v.cvm != nil && cvmCompliant(v.cvm, res) {
		compliance = CompliantCVM
	}
	if compliance != "" {
		claims[ClaimCompliance] = compliance
	}
	rd := bytes.Clone(r.ReportData[:32])
	hd := bytes.Clone(r.HostData[:])
	return &evidence.Verified{
		AttestationType:     AttestationType,
		Claims:              claims,
		PolicyClaimIfIssued: true,
		Detail:              res,
		RuntimeData:         &evidence.Binding{Field: RuntimeDataField, Value: rd},
		InitTimeData:        &evidence.Binding{Field: InitTimeDataField, Value: hd},
	}, nil
}

func cvmCompliant(c *CVMCompliance, res *Result) bool {
	r := res.Report
	if len(c.IDKeyDigests) > 0 {
		ok := false
		for _, d := range c.IDKeyDigests {
			ok = ok || d == r.IDKeyDigest
		}
		if !ok {
			return false
		}
	}
	if m, ok := c.MinimumTCB[res.Product]; ok {
		if _, below := belowTCB(res.ReportedTCB, m); below {
			return false
		}
	}
	return r.GuestSVN >= c.MinimumGuestSVN
}
