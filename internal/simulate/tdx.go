package simulate

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
)

// TD is what a simulated trust domain's TD report says (TD report 1.0,
// Intel TDX module ABI). Every field lands in the TdxVm claim of the same
// name (tdx_*). Start from DefaultTD: the zero TD has no XFAM, TD
// attributes or TEE_TCB_SVN a real TD would have.
type TD struct {
	// ReportData is REPORTDATA (64 bytes): SHA-256 of the runtime data in
	// the first 32 (see ReportDataFor); tdx_report_data.
	ReportData [64]byte
	// MRTD is the build-time measurement (tdx_mrtd); RTMR the run-time
	// measurement registers 0-3 (tdx_rtmr0..3).
	MRTD [48]byte
	RTMR [4][48]byte
	// MRConfigID, MROwner and MROwnerConfig are the host-chosen IDs
	// (tdx_mrconfigid, tdx_mrowner, tdx_mrownerconfig). Init-time data
	// binds to MRCONFIGID: SHA-256 of the data, zero-padded (see
	// MRConfigIDFor).
	MRConfigID    [48]byte
	MROwner       [48]byte
	MROwnerConfig [48]byte
	// MRSEAM is the TDX module's measurement (tdx_mrseam). The module's
	// signer (MRSIGNERSEAM) is Intel's, all zeros, and its attributes zero,
	// as the development TCB Info requires.
	MRSEAM [48]byte
	// TEETCBSVN is TEE_TCB_SVN (tdx_tee_tcb_svn): byte 0 the module's SVN,
	// byte 1 its major version, which must be at most MaxTDXModuleMajor
	// (0 selects the TCB Info's tdxModule, N its identity TDX_0N).
	TEETCBSVN [16]byte
	// TDAttributes is TD_ATTRIBUTES as on the wire (a little-endian u64;
	// tdx_td_attributes and the tdx_td_attributes_* booleans). Debug sets
	// bit 0 (DEBUG: dbgstat "enabled") on top of it.
	TDAttributes [8]byte
	Debug        bool
	// XFAM as on the wire (tdx_xfam).
	XFAM [8]byte
}

// MaxTDXModuleMajor is the highest TDX module major version (TEE_TCB_SVN[1])
// the development TCB Info has an identity for (TDX_01 … TDX_0F).
const MaxTDXModuleMajor = 15

// devTDQEProdID is the development TD QE's ISVPRODID (Intel's TD QE is 2).
const devTDQEProdID = 2

// tdReportBodySize is a TD report 1.0 body (sgx_report2_body_t).
const tdReportBodySize = 584

// teeTypeTDX is the quote header's TEE type for TDX.
const teeTypeTDX = 0x81

// DefaultTD returns the TD a simulated quote describes unless told
// otherwise: TEE_TCB_SVN 03 01 00… (module TDX_01, SVN 3), TD_ATTRIBUTES
// SEPT_VE_DISABLE (bit 28, as Linux TDs run), XFAM 0x602e7 (x87, SSE, AVX,
// AVX-512, PKRU state, as common TDs have), MRSEAM SHA-384("Maat
// development TDX module"), every other register zero.
func DefaultTD() TD {
	var td TD
	td.TEETCBSVN[0], td.TEETCBSVN[1] = 3, 1
	binary.LittleEndian.PutUint64(td.TDAttributes[:], 1<<28)
	binary.LittleEndian.PutUint64(td.XFAM[:], 0x602e7)
	td.MRSEAM = sha512.Sum384([]byte("Maat development TDX module"))
	return td
}

// MRConfigIDFor returns the MRCONFIGID binding initTimeData: its SHA-256
// zero-padded to 48 bytes (MAA's binding for TdxVm init-time data).
func MRConfigIDFor(initTimeData []byte) [48]byte {
	var m [48]byte
	rd := ReportDataFor(initTimeData)
	copy(m[:], rd[:32])
	return m
}

func (td TD) body() []byte {
	b := make([]byte, tdReportBodySize)
	copy(b[0:16], td.TEETCBSVN[:])
	copy(b[16:64], td.MRSEAM[:])
	// b[64:112] MRSIGNERSEAM and b[112:120] SEAM_ATTRIBUTES: zero.
	attrs := binary.LittleEndian.Uint64(td.TDAttributes[:])
	if td.Debug {
		attrs |= 1
	}
	binary.LittleEndian.PutUint64(b[120:128], attrs)
	copy(b[128:136], td.XFAM[:])
	copy(b[136:184], td.MRTD[:])
	copy(b[184:232], td.MRConfigID[:])
	copy(b[232:280], td.MROwner[:])
	copy(b[280:328], td.MROwnerConfig[:])
	for i := range td.RTMR {
		copy(b[328+48*i:376+48*i], td.RTMR[i][:])
	}
	copy(b[520:584], td.ReportData[:])
	return b
}

// TDQuote returns a TD quote (version 4, TEE type 0x81, attestation key
// type ECDSA-P256) of td: signed by a fresh attestation key that the
// development TD QE's report binds, the QE report signed by the
// development PCK key, in certification data type 6 (QE report
// certification data) wrapping the PCK chain (type 5, PEM), as Intel's TD
// quoting enclave makes it. It returns an error for a module major version
// above MaxTDXModuleMajor, or if signing fails.
func (p *PKI) TDQuote(td TD) ([]byte, error) {
	if td.TEETCBSVN[1] > MaxTDXModuleMajor {
		return nil, fmt.Errorf("simulate: TEE_TCB_SVN[1] (TDX module major version) %d: the development TCB Info knows modules 0 to %d", td.TEETCBSVN[1], MaxTDXModuleMajor)
	}
	signed := append(quoteHeader(4, teeTypeTDX), td.body()...)
	sig, attPub, qeCert, err := p.signQuote(signed, devTDQEProdID, p.pck.cert)
	if err != nil {
		return nil, err
	}
	var sd []byte
	sd = append(sd, sig...)
	sd = append(sd, attPub...)
	sd = binary.LittleEndian.AppendUint16(sd, 6) // QE report certification data
	sd = binary.LittleEndian.AppendUint32(sd, uint32(len(qeCert)))
	sd = append(sd, qeCert...)
	q := binary.LittleEndian.AppendUint32(signed, uint32(len(sd)))
	return append(q, sd...), nil
}

// tdxTCBInfo is the body of the development platform's TDX TCB Info
// (version 3, id TDX): the tdxModule and the identities TDX_01 …
// TDX_0F (Intel's all-zero MRSIGNERSEAM and attributes), each with one
// UpToDate level from SVN 0, and one UpToDate TCB level: the PCK's SGX
// components and PCESVN, and TDX components all zero, so every TEE_TCB_SVN
// a simulated quote carries is UpToDate.
func tdxTCBInfo(fmspc string, issue time.Time) map[string]any {
	zeroSigner := hex.EncodeToString(make([]byte, 48))
	date := issue.UTC().Format(time.RFC3339)
	ids := make([]any, 0, MaxTDXModuleMajor)
	for m := 1; m <= MaxTDXModuleMajor; m++ {
		ids = append(ids, map[string]any{
			"id": fmt.Sprintf("TDX_%02X", m), "mrsigner": zeroSigner, "attributes": "0000000000000000", "attributesMask": "FFFFFFFFFFFFFFFF",
			"tcbLevels": []map[string]any{{"tcb": map[string]any{"isvsvn": 0}, "tcbDate": date, "tcbStatus": "UpToDate"}},
		})
	}
	tcb := sgxLevelTCB()
	tdxComps := make([]map[string]any, 16)
	for i := range tdxComps {
		tdxComps[i] = map[string]any{"svn": 0}
	}
	tcb["tdxtcbcomponents"] = tdxComps
	return map[string]any{
		"id": "TDX", "version": 3, "fmspc": fmspc, "pceId": hex.EncodeToString(PCEID[:]), "tcbType": 0, "tcbEvaluationDataNumber": 1,
		"tdxModule":           map[string]any{"mrsigner": zeroSigner, "attributes": "0000000000000000", "attributesMask": "FFFFFFFFFFFFFFFF"},
		"tdxModuleIdentities": ids,
		"tcbLevels":           []map[string]any{{"tcb": tcb, "tcbDate": date, "tcbStatus": "UpToDate"}},
	}
}

// tdReport is the 1024-byte TDREPORT (TDREPORT_STRUCT, Intel TDX module
// ABI) of td: REPORTMACSTRUCT (REPORTTYPE 0x81, CPUSVN, the SHA-384 of
// TEE_TCB_INFO and of TDINFO, REPORTDATA, a zero MAC), TEE_TCB_INFO
// (TEE_TCB_SVN, MRSEAM, zero MRSIGNERSEAM and attributes) and TDINFO
// (attributes, XFAM, MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG, RTMRs): the
// same TD as td.body() describes.
func (td TD) tdReport() []byte {
	body := td.body()
	b := make([]byte, 1024)
	mac, tcb, info := b[0:256], b[256:495], b[512:1024]
	// TEE_TCB_INFO: VALID (the fields below), TEE_TCB_SVN, MRSEAM,
	// MRSIGNERSEAM, ATTRIBUTES.
	binary.LittleEndian.PutUint64(tcb[0:8], 0x1f)
	copy(tcb[8:24], body[0:16])
	copy(tcb[24:72], body[16:64])
	copy(tcb[72:120], body[64:112])
	copy(tcb[120:128], body[112:120])
	// TDINFO: ATTRIBUTES, XFAM, MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG,
	// RTMR0-3: the TD report body's bytes 120-520, in the same order.
	copy(info[0:400], body[120:520])
	// REPORTMACSTRUCT.
	mac[0] = teeTypeTDX // REPORTTYPE: type TDX, subtype 0, version 0
	copy(mac[16:32], bytes.Repeat([]byte{devCPUSVN}, 16))
	tcbHash, infoHash := sha512.Sum384(tcb), sha512.Sum384(info)
	copy(mac[32:80], tcbHash[:])
	copy(mac[80:128], infoHash[:])
	copy(mac[128:192], td.ReportData[:])
	return b
}
