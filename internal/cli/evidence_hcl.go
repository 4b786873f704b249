package cli

import (
	"encoding/hex"

	"github.com/maat-attest/maat/internal/evidence/hcl"
	"github.com/maat-attest/maat/internal/evidence/sevsnp"
)

// evidenceInspectHCL parses an Azure HCL report (no verification): the
// header words, the runtime claims and whether they bind to the hardware
// report's report data, and the SNP report's fields (a TDREPORT is only
// MAC'ed and is shown raw with its REPORTDATA).
func evidenceInspectHCL(b []byte) (map[string]any, error) {
	r, err := hcl.Parse(b)
	if err != nil {
		return nil, err
	}
	rd := r.ReportData()
	out := map[string]any{
		"type":               "hcl",
		"version":            r.Version,
		"reportSize":         r.ReportSize,
		"requestType":        r.RequestType,
		"status":             r.Status,
		"reportType":         r.ReportType.String(),
		"hashType":           r.HashType.String(),
		"runtimeDataVersion": r.RuntimeDataVersion,
		"claimSize":          len(r.Claims),
		"reportData":         hex.EncodeToString(rd),
		"claimsBound":        hcl.ClaimsBound(r.Claims, r.HashType, rd),
	}
	if c, err := hcl.ParseRuntimeClaims(r.Claims); err == nil {
		out["runtimeClaims"] = c.Document
	} else {
		out["runtimeClaimsError"] = err.Error()
	}
	switch r.ReportType {
	case hcl.ReportTypeSNP:
		raw, _ := r.SNPReport()
		if rep, err := sevsnp.ParseReport(raw); err == nil {
			out["snpReport"] = inspectValue(rep)
		} else {
			out["snpReportError"] = err.Error()
		}
	case hcl.ReportTypeTDX:
		raw, _ := r.TDReport()
		out["tdReport"] = hex.EncodeToString(raw)
	}
	return out, nil
}
