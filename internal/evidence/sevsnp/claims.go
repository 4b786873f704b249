package sevsnp

import (
	"encoding/hex"
)

// MAA's claim names for SevSnpVm, spelled as MAA spells them (familyId and
// imageId in camel case).
const (
	ClaimAttestationType = "x-ms-attestation-type"
	ClaimAuthorKeyDigest = "x-ms-sevsnpvm-authorkeydigest"
	ClaimBootloaderSVN   = "x-ms-sevsnpvm-bootloader-svn"
	ClaimFamilyID        = "x-ms-sevsnpvm-familyId"
	ClaimGuestSVN        = "x-ms-sevsnpvm-guestsvn"
	ClaimHostData        = "x-ms-sevsnpvm-hostdata"
	ClaimIDKeyDigest     = "x-ms-sevsnpvm-idkeydigest"
	ClaimImageID         = "x-ms-sevsnpvm-imageId"
	ClaimIsDebuggable    = "x-ms-sevsnpvm-is-debuggable"
	ClaimMeasurement     = "x-ms-sevsnpvm-launchmeasurement"
	ClaimMicrocodeSVN    = "x-ms-sevsnpvm-microcode-svn"
	ClaimMigration       = "x-ms-sevsnpvm-migration-allowed"
	ClaimReportData      = "x-ms-sevsnpvm-reportdata"
	ClaimReportID        = "x-ms-sevsnpvm-reportid"
	ClaimSMTAllowed      = "x-ms-sevsnpvm-smt-allowed"
	ClaimSNPFWSVN        = "x-ms-sevsnpvm-snpfw-svn"
	ClaimTEESVN          = "x-ms-sevsnpvm-tee-svn"
	ClaimVMPL            = "x-ms-sevsnpvm-vmpl"
	ClaimUVMEndorsement  = "x-ms-sevsnpvm-uvm-endorsement"
	ClaimCompliance      = "x-ms-compliance-status"

	// Maat's extras.
	ClaimProduct       = "x-maat-sevsnpvm-product"
	ClaimSigningKey    = "x-maat-sevsnpvm-signing-key"
	ClaimReportVersion = "x-maat-sevsnpvm-report-version"
	ClaimCurrentTCB    = "x-maat-sevsnpvm-current-tcb"
	ClaimCommittedTCB  = "x-maat-sevsnpvm-committed-tcb"
	ClaimLaunchTCB     = "x-maat-sevsnpvm-launch-tcb"
	ClaimReportedTCB   = "x-maat-sevsnpvm-reported-tcb"
	ClaimFMCSVN        = "x-maat-sevsnpvm-fmc-svn"
	ClaimTCBStatus     = "x-maat-sevsnpvm-tcb-status"
	ClaimMinimumTCB    = "x-maat-sevsnpvm-minimum-tcb"
	ClaimCRL           = "x-maat-sevsnpvm-crl"
	ClaimVCEKSource    = "x-maat-sevsnpvm-vcek-source"
)

// AttestationType is the x-ms-attestation-type of SevSnpVm tokens.
const AttestationType = "sevsnpvm"

// Compliance values (x-ms-compliance-status).
const (
	CompliantCVM = "azure-compliant-cvm"
	CompliantUVM = "azure-compliant-uvm"
)

// Claims returns the verified report's claims: MAA's 17 x-ms-sevsnpvm-*
// claims (SVNs from REPORTED_TCB, as MAA), x-ms-attestation-type, and
// Maat's x-maat-sevsnpvm-* extras. TCB values are the 8 TCB_VERSION bytes
// in report order, as hex. CHIP_ID is never emitted: it identifies the
// machine.
func (res *Result) Claims() map[string]any {
	r := res.Report
	t := res.ReportedTCB
	m := map[string]any{
		ClaimAttestationType: AttestationType,
		ClaimAuthorKeyDigest: hex.EncodeToString(r.AuthorKeyHash[:]),
		ClaimBootloaderSVN:   int(t.Bootloader),
		ClaimFamilyID:        hex.EncodeToString(r.FamilyID[:]),
		ClaimGuestSVN:        int(r.GuestSVN),
		ClaimHostData:        hex.EncodeToString(r.HostData[:]),
		ClaimIDKeyDigest:     hex.EncodeToString(r.IDKeyDigest[:]),
		ClaimImageID:         hex.EncodeToString(r.ImageID[:]),
		ClaimIsDebuggable:    r.Debuggable(),
		ClaimMeasurement:     hex.EncodeToString(r.Measurement[:]),
		ClaimMicrocodeSVN:    int(t.Microcode),
		ClaimMigration:       r.MigrationAllowed(),
		ClaimReportData:      hex.EncodeToString(r.ReportData[:]),
		ClaimReportID:        hex.EncodeToString(r.ReportID[:]),
		ClaimSMTAllowed:      r.SMTAllowed(),
		ClaimSNPFWSVN:        int(t.SNP),
		ClaimTEESVN:          int(t.TEE),
		ClaimVMPL:            int(r.VMPL),

		ClaimProduct:       string(res.Product),
		ClaimSigningKey:    res.SigningKey.String(),
		ClaimReportVersion: int(r.Version),
		ClaimCurrentTCB:    hex.EncodeToString(r.CurrentTCB[:]),
		ClaimCommittedTCB:  hex.EncodeToString(r.CommittedTCB[:]),
		ClaimLaunchTCB:     hex.EncodeToString(r.LaunchTCB[:]),
		ClaimReportedTCB:   hex.EncodeToString(r.ReportedTCB[:]),
		ClaimTCBStatus:     res.TCBStatus,
		ClaimCRL:           res.CRL,
	}
	if res.Product == ProductTurin {
		m[ClaimFMCSVN] = int(t.FMC)
	}
	if res.MinimumTCB != nil {
		m[ClaimMinimumTCB] = res.MinimumTCB.String()
	}
	if res.LeafFetched {
		m[ClaimVCEKSource] = "collateral"
	} else {
		m[ClaimVCEKSource] = "evidence"
	}
	return m
}

// MAAClaimNames returns the 17 x-ms-sevsnpvm-* claims MAA emits for every
// report, in MAA's (sorted) order.
func MAAClaimNames() []string {
	return []string{ClaimAuthorKeyDigest, ClaimBootloaderSVN, ClaimFamilyID, ClaimGuestSVN, ClaimHostData, ClaimIDKeyDigest,
		ClaimImageID, ClaimIsDebuggable, ClaimMeasurement, ClaimMicrocodeSVN, ClaimMigration, ClaimReportData, ClaimReportID,
		ClaimSMTAllowed, ClaimSNPFWSVN, ClaimTEESVN, ClaimVMPL}
}
