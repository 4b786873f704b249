package sgx

import (
	"encoding/hex"
)

// MAA claim names produced by Result.Claims.
const (
	ClaimIsDebuggable         = "x-ms-sgx-is-debuggable"
	ClaimProductID            = "x-ms-sgx-product-id"
	ClaimMRSigner             = "x-ms-sgx-mrsigner"
	ClaimMREnclave            = "x-ms-sgx-mrenclave"
	ClaimSVN                  = "x-ms-sgx-svn"
	ClaimReportData           = "x-ms-sgx-report-data"
	ClaimCollateral           = "x-ms-sgx-collateral"
	ClaimConfigID             = "x-ms-sgx-config-id"
	ClaimConfigSVN            = "x-ms-sgx-config-svn"
	ClaimISVExtendedProductID = "x-ms-sgx-isv-extended-product-id"
	ClaimISVFamilyID          = "x-ms-sgx-isv-family-id"
)

// Claims returns the verified report as MAA names it: is-debuggable (bool),
// product-id and svn (numbers), mrsigner, mrenclave and report-data (lower
// hex), and x-ms-sgx-collateral {qeidcertshash, qeidcrlhash, qeidhash,
// quotehash, tcbinfocertshash, tcbinfocrlhash, tcbinfohash} (lower hex, see
// CollateralHashes). When the enclave runs with KSS (attribute bit 7) it adds
// config-id (hex, 64 bytes), config-svn (number), isv-extended-product-id and
// isv-family-id (hex, 16 bytes). Numbers are int. The map is fresh; callers
// may modify it. TCB status and runtime-data claims (x-ms-sgx-ehd) are the
// pipeline's to add.
func (r *Result) Claims() map[string]any {
	b := &r.Report
	m := map[string]any{
		ClaimIsDebuggable: b.Debug(),
		ClaimProductID:    int(b.ISVProdID),
		ClaimMRSigner:     hex.EncodeToString(b.MRSigner[:]),
		ClaimMREnclave:    hex.EncodeToString(b.MREnclave[:]),
		ClaimSVN:          int(b.ISVSVN),
		ClaimReportData:   hex.EncodeToString(b.ReportData[:]),
		ClaimCollateral:   r.Hashes.Claims(),
	}
	if b.KSS() {
		m[ClaimConfigID] = hex.EncodeToString(b.ConfigID[:])
		m[ClaimConfigSVN] = int(b.ConfigSVN)
		m[ClaimISVExtendedProductID] = hex.EncodeToString(b.ISVExtProdID[:])
		m[ClaimISVFamilyID] = hex.EncodeToString(b.ISVFamilyID[:])
	}
	return m
}
