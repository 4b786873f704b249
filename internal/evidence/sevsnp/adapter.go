package sevsnp

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/evidence/hcl"
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
	var hr *hcl.Report
	var ev *Evidence
	var err error
	if bytes.HasPrefix(raw, []byte(hcl.Signature)) {
		if hr, ev, err = v.decodeHCL(raw); err != nil {
			return nil, err
		}
	} else if ev, err = DecodeEvidence(raw); err != nil {
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
	out := &evidence.Verified{
		AttestationType:     AttestationType,
		Claims:              claims,
		PolicyClaimIfIssued: true,
		Detail:              res,
		RuntimeData:         &evidence.Binding{Field: RuntimeDataField, Value: rd},
		InitTimeData:        &evidence.Binding{Field: InitTimeDataField, Value: hd},
	}
	if hr != nil {
		// Checked after the signature: only a verified report counts.
		if r.VMPL != 0 {
			return nil, fmt.Errorf("%w: the HCL report's SNP report was requested at VMPL %d; only the paravisor's (VMPL 0) vouches for the runtime claims", ErrHCLBinding, r.VMPL)
		}
		if !hcl.ClaimsBound(hr.Claims, hr.HashType, r.ReportData[:]) {
			return nil, fmt.Errorf("%w: %s of the HCL report's runtime claims (%x…) is not the SNP report's REPORT_DATA (%x…)", ErrHCLBinding, hr.HashType, hr.HashType.Sum(hr.Claims)[:8], r.ReportData[:8])
		}
		out.EvidenceRuntimeJSON = hr.Claims
	}
	return out, nil
}

// decodeHCL takes the SNP report out of a raw Azure HCL report (contract
// §3.1 variant b) when the instance accepts those. The evidence then has no
// certificate chain: the VCEK comes from the collateral source.
func (v *Verifier) decodeHCL(raw []byte) (*hcl.Report, *Evidence, error) {
	if !v.hcl {
		return nil, nil, fmt.Errorf("%w: report is a raw Azure HCL report (it starts with %q); this instance accepts those only with sevsnp-accept-hcl-report. Otherwise send the JSON {\"SnpReport\", \"VcekCertChain\"}", ErrMalformedRequest, hcl.Signature)
	}
	hr, err := hcl.Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformedRequest, err)
	}
	snp, err := hr.SNPReport()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v; a TDX CVM attests through /attest/AzureGuest, or its TD quote through /attest/TdxVm", ErrMalformedRequest, err)
	}
	return hr, &Evidence{Report: snp}, nil
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
