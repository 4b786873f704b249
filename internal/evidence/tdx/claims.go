package tdx

import (
	"encoding/hex"
	"strings"
)

// EATProfile is MAA's TDX EAT profile identifier (claim eat_profile).
const EATProfile = "https://aka.ms/maa-eat-profile-tdxvm"

// AttestationType is the x-ms-attestation-type of TDX tokens.
const AttestationType = "tdxvm"

// MAA's TDX claims (trust-domain-extensions-eat-profile) and Maat's extras.
const (
	ClaimEATProfile        = "eat_profile"
	ClaimDbgStat           = "dbgstat"
	ClaimIntUse            = "intuse"
	ClaimAttesterTCBStatus = "attester_tcb_status"

	ClaimMRSignerSEAM   = "tdx_mrsignerseam"
	ClaimMRSEAM         = "tdx_mrseam"
	ClaimMRTD           = "tdx_mrtd"
	ClaimRTMR0          = "tdx_rtmr0"
	ClaimRTMR1          = "tdx_rtmr1"
	ClaimRTMR2          = "tdx_rtmr2"
	ClaimRTMR3          = "tdx_rtmr3"
	ClaimMRConfigID     = "tdx_mrconfigid"
	ClaimMROwner        = "tdx_mrowner"
	ClaimMROwnerConfig  = "tdx_mrownerconfig"
	ClaimReportData     = "tdx_report_data"
	ClaimSEAMAttributes = "tdx_seam_attributes"
	ClaimTDAttributes   = "tdx_td_attributes"
	ClaimXFAM           = "tdx_xfam"
	ClaimTEETCBSVN      = "tdx_tee_tcb_svn"
	ClaimSEAMSVN        = "tdx_seamsvn"

	ClaimTDAttrDebug          = "tdx_td_attributes_debug"
	ClaimTDAttrSEPTVEDisable  = "tdx_td_attributes_septve_disable"
	ClaimTDAttrProtectionKeys = "tdx_td_attributes_protection_keys"
	ClaimTDAttrKeyLocker      = "tdx_td_attributes_key_locker"
	ClaimTDAttrPerfmon        = "tdx_td_attributes_perfmon"

	ClaimMaatTCBDate         = "x-maat-tdx-tcb-date"
	ClaimMaatAdvisoryIDs     = "x-maat-tdx-advisory-ids"
	ClaimMaatFMSPC           = "x-maat-tdx-fmspc"
	ClaimMaatTCBEvalNum      = "x-maat-tdx-tcb-eval-num"
	ClaimMaatModuleStatus    = "x-maat-tdx-module-status"
	ClaimMaatModuleID        = "x-maat-tdx-module-id"
	ClaimMaatQEStatus        = "x-maat-tdx-qe-status"
	ClaimMaatPlatformStatus  = "x-maat-tdx-platform-tcb-status"
	ClaimMaatCollateral      = "x-maat-tdx-collateral"
	ClaimMaatTCBUnmatched    = "x-maat-tdx-tcb-unmatched"
	ClaimMaatRelaunchAdvised = "x-maat-tdx-relaunch-advised"
	ClaimMaatTEETCBSVN2      = "x-maat-tdx-tee-tcb-svn2"
	ClaimMaatMRServiceTD     = "x-maat-tdx-mrservicetd"
	ClaimMaatCollExpired     = "x-maat-collateral-expired"
)

// Claims returns the verified quote as MAA's TDX EAT profile names it, plus
// Maat's x-maat-tdx-* extras:
//
//   - eat_profile, dbgstat ("enabled" / "disabled" by TD_ATTRIBUTES.DEBUG),
//     intuse "generic", attester_tcb_status (TCBStatus);
//   - tdx_mrsignerseam, tdx_mrseam, tdx_mrtd, tdx_rtmr0..3, tdx_mrconfigid,
//     tdx_mrowner, tdx_mrownerconfig (96 lower hex), tdx_report_data (128),
//     tdx_seam_attributes, tdx_td_attributes, tdx_xfam (16 hex, wire byte
//     order), tdx_tee_tcb_svn (32 hex), tdx_seamsvn (number: TEE_TCB_SVN[0:2]
//     little-endian), the five tdx_td_attributes_* booleans;
//   - x-maat-tdx-fmspc (upper hex), -tcb-eval-num, -qe-status,
//     -platform-tcb-status and -tcb-date (RFC 3339 date, when a level
//     matched), -module-id and -module-status (when a module identity
//     applied), -advisory-ids (array), -collateral (hashes, as
//     x-ms-sgx-collateral), -tcb-unmatched (only when true),
//     -relaunch-advised (TD 1.5), -tee-tcb-svn2 and -mrservicetd (TD 1.5),
//     x-maat-collateral-expired (only when expired collateral was accepted).
//
// Numbers are int. The map is fresh.
func (r *Result) Claims() map[string]any {
	b := &r.Report
	h := func(x []byte) string { return hex.EncodeToString(x) }
	dbg := "disabled"
	if b.Debug() {
		dbg = "enabled"
	}
	adv := append([]string{}, r.AdvisoryIDs...)
	m := map[string]any{
		ClaimEATProfile:        EATProfile,
		ClaimDbgStat:           dbg,
		ClaimIntUse:            "generic",
		ClaimAttesterTCBStatus: string(r.TCBStatus),

		ClaimMRSignerSEAM:   h(b.MRSignerSEAM[:]),
		ClaimMRSEAM:         h(b.MRSEAM[:]),
		ClaimMRTD:           h(b.MRTD[:]),
		ClaimRTMR0:          h(b.RTMR[0][:]),
		ClaimRTMR1:          h(b.RTMR[1][:]),
		ClaimRTMR2:          h(b.RTMR[2][:]),
		ClaimRTMR3:          h(b.RTMR[3][:]),
		ClaimMRConfigID:     h(b.MRConfigID[:]),
		ClaimMROwner:        h(b.MROwner[:]),
		ClaimMROwnerConfig:  h(b.MROwnerConfig[:]),
		ClaimReportData:     h(b.ReportData[:]),
		ClaimSEAMAttributes: h(b.SEAMAttributes[:]),
		ClaimTDAttributes:   h(b.TDAttributes[:]),
		ClaimXFAM:           h(b.XFAM[:]),
		ClaimTEETCBSVN:      h(b.TEETCBSVN[:]),
		ClaimSEAMSVN:        int(b.SEAMSVN()),

		ClaimTDAttrDebug:          b.TDAttributesBit(TDAttrDebug),
		ClaimTDAttrSEPTVEDisable:  b.TDAttributesBit(TDAttrSEPTVEDisable),
		ClaimTDAttrProtectionKeys: b.TDAttributesBit(TDAttrProtectionKeys),
		ClaimTDAttrKeyLocker:      b.TDAttributesBit(TDAttrKeyLocker),
		ClaimTDAttrPerfmon:        b.TDAttributesBit(TDAttrPerfmon),

		ClaimMaatFMSPC:       strings.ToUpper(r.FMSPC),
		ClaimMaatTCBEvalNum:  r.TCBEvaluationDataNumber,
		ClaimMaatQEStatus:    string(r.QEStatus),
		ClaimMaatAdvisoryIDs: adv,
		ClaimMaatCollateral:  r.Hashes.Claims(),
	}
	if !r.Unmatched {
		m[ClaimMaatPlatformStatus] = string(r.PlatformTCBStatus)
		m[ClaimMaatTCBDate] = r.TCBDate.UTC().Format("2006-01-02T15:04:05Z")
	} else {
		m[ClaimMaatTCBUnmatched] = true
	}
	if r.ModuleID != "" {
		m[ClaimMaatModuleID] = r.ModuleID
		m[ClaimMaatModuleStatus] = string(r.ModuleStatus)
	}
	if b.V15 {
		m[ClaimMaatTEETCBSVN2] = h(b.TEETCBSVN2[:])
		m[ClaimMaatMRServiceTD] = h(b.MRServiceTD[:])
		m[ClaimMaatRelaunchAdvised] = r.RelaunchAdvised
	}
	if r.CollateralExpired {
		m[ClaimMaatCollExpired] = true
	}
	return m
}
