package simulate

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/maat-attest/maat/internal/evidence/hcl"
)

// AzureVMUniqueID is the vmUniqueId of the simulated Azure confidential VM
// (x-ms-azurevm-vmid of its tokens).
const AzureVMUniqueID = "00000000-4D41-4154-2D44-455600000001"

// AzureHCLReport returns a synthetic HCL report of an Azure SEV-SNP
// confidential VM whose vTPM AK is akPub: the "HCLA" header, a simulated
// SEV-SNP report (g, with VMPL 0 and REPORT_DATA[0:32] = SHA-256 of the
// runtime claims, as Azure's paravisor makes it) and the runtime claims
// {"keys":[HCLAkPub],"vm-configuration":…} in Azure's layout, and the VCEK
// chain of the report. g's ReportData and VMPL are overwritten. It returns
// an error for a product SNPReport refuses.
func (p *PKI) AzureHCLReport(akPub *rsa.PublicKey, g SNPGuest) (report, chainPEM []byte, err error) {
	claims, err := hclRuntimeClaims(akPub)
	if err != nil {
		return nil, nil, err
	}
	h := sha256.Sum256(claims)
	g.ReportData = [64]byte{}
	copy(g.ReportData[:], h[:])
	g.VMPL = 0
	snp, chain, err := p.SNPReport(g)
	if err != nil {
		return nil, nil, err
	}
	return hclReport(snp, hcl.ReportTypeSNP, claims), chain, nil
}

// AzureTDXHCLReport returns a synthetic HCL report of an Azure TDX
// confidential VM whose vTPM AK is akPub, and the TD quote that goes with
// it (the isolation evidence's Proof): the "HCLA" header, a TDREPORT of td
// with REPORTDATA[0:32] = SHA-256 of the runtime claims, the runtime claims
// as for AzureHCLReport, and a simulated TD quote (TDQuote) of the same TD.
// td's ReportData is overwritten. The TDREPORT's MAC is zero: a real one is
// keyed by the CPU and checked only by the quoting enclave on the same
// platform, so verifiers judge the TD quote, never the TDREPORT. It returns
// an error for a TD TDQuote refuses.
func (p *PKI) AzureTDXHCLReport(akPub *rsa.PublicKey, td TD) (report, quote []byte, err error) {
	claims, err := hclRuntimeClaims(akPub)
	if err != nil {
		return nil, nil, err
	}
	h := sha256.Sum256(claims)
	td.ReportData = [64]byte{}
	copy(td.ReportData[:], h[:])
	if quote, err = p.TDQuote(td); err != nil {
		return nil, nil, err
	}
	return hclReport(td.tdReport(), hcl.ReportTypeTDX, claims), quote, nil
}

// hclRuntimeClaims are the runtime claims of the simulated Azure CVM:
// HCLAkPub = akPub, Azure's vm-configuration and zero user data.
func hclRuntimeClaims(akPub *rsa.PublicKey) ([]byte, error) {
	return json.Marshal(map[string]any{
		"keys": []any{map[string]any{"kid": hcl.KidAkPub, "key_ops": []string{"sign"}, "kty": "RSA",
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(akPub.E)).Bytes()),
			"n": base64.RawURLEncoding.EncodeToString(akPub.N.Bytes())}},
		"vm-configuration": map[string]any{"console-enabled": true, "secure-boot": true, "tpm-enabled": true,
			"tpm-persisted": true, "vmUniqueId": AzureVMUniqueID},
		"user-data": fmt.Sprintf("%0128x", 0),
	})
}

// hclReport lays out an HCL report (version 2, request type 2, SHA-256
// claims hash) around a hardware report of type typ.
func hclReport(hw []byte, typ hcl.ReportType, claims []byte) []byte {
	le := binary.LittleEndian
	b := make([]byte, hcl.ClaimsOffset+len(claims))
	copy(b, hcl.Signature)
	le.PutUint32(b[4:], 2)                                    // version
	le.PutUint32(b[8:], uint32(hcl.ClaimsOffset+len(claims))) // report size: 1236 + claims, as observed
	le.PutUint32(b[12:], 2)                                   // request type
	copy(b[hcl.HWReportOffset:], hw)
	rh := b[hcl.HWReportOffset+hcl.HWReportSize:]
	le.PutUint32(rh[0:], uint32(20+len(claims)))
	le.PutUint32(rh[4:], 1)
	le.PutUint32(rh[8:], uint32(typ))
	le.PutUint32(rh[12:], uint32(hcl.HashSHA256))
	le.PutUint32(rh[16:], uint32(len(claims)))
	copy(b[hcl.ClaimsOffset:], claims)
	return b
}
