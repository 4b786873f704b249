package azureguest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/evidence/hcl"
	"github.com/maat-attest/maat/internal/evidence/sevsnp"
	"github.com/maat-attest/maat/internal/evidence/tdx"
	"github.com/maat-attest/maat/internal/evidence/tpm"
	"github.com/maat-attest/maat/internal/maaerr"
)

// The vTPM chains of contract §8 (trustee's Azure SNP and TDX CVM
// evidence): the vTPM quote verifies with HCLAkPub, the runtime claims are
// bound to the verified hardware report, and the claims nest.
func TestVTPMChains(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(testing.TB) cvmSet
		v    func(testing.TB) *Verifier
		typ  string
		vmid string
	}{
		{"SNP", snpSet, func(tb testing.TB) *Verifier { return New(Options{SNP: snpVerifier(tb, pinTrustee)}) }, "sevsnpvm", "911B0EF8-9DBA-48B0-B275-4E4DF2D39252"},
		{"TDX", tdxSet, func(tb testing.TB) *Verifier { return New(Options{TDX: tdxVerifier(tb, pinTrustee)}) }, "tdxvm", "6332533D-5649-4D02-8AA7-8F64B7C3EE21"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.set(t)
			ak := akArea(s.ak)
			q, err := tpm.VerifyPCRQuote(ak, s.quote.msg, s.quote.sig, s.quote.set, s.quote.pcrs)
			if err != nil {
				t.Fatal(err)
			}
			if string(q.ExtraData) != "challenge" || len(q.Set) != 24 {
				t.Fatalf("extraData %q set %v", q.ExtraData, q.Set)
			}
			v := tc.v(t)
			iso, err := v.VerifyIsolation(ctx, s.iso, s.ak, nil)
			if err != nil {
				t.Fatal(err)
			}
			if iso.Hash != hcl.HashSHA256 || iso.Verified.AttestationType != tc.typ {
				t.Fatalf("hash %v type %s", iso.Hash, iso.Verified.AttestationType)
			}
			switch d := iso.Verified.Detail.(type) {
			case *sevsnp.Result:
				if d.Report.VMPL != 0 || d.Product != sevsnp.ProductMilan {
					t.Fatalf("VMPL %d product %s", d.Report.VMPL, d.Product)
				}
			case *tdx.Result:
				if d.TCBStatus != "OutOfDate" {
					t.Fatalf("TDX status %s", d.TCBStatus)
				}
			}
			// Claims: the azurevm schema with the hardware claims nested.
			enc, _ := rsa.GenerateKey(rand.Reader, 2048)
			res := &Result{Info: &AttestationInfo{ProtocolVersion: "2.0", OSType: "Linux", OSDistro: "Ubuntu", OSBuild: "NotApplication", OSVersionMajor: 22, OSVersionMinor: 4,
				ClientPayload: map[string]any{"nonce": "QURFMDEwMQ=="}, Isolation: s.iso}, Quote: q, EncKey: &enc.PublicKey, Isolation: iso}
			c, err := res.Claims()
			if err != nil {
				t.Fatal(err)
			}
			tee, ok := c[ClaimIsolationTEE].(map[string]any)
			if !ok || tee["x-ms-attestation-type"] != tc.typ {
				t.Fatalf("x-ms-isolation-tee %v", c[ClaimIsolationTEE])
			}
			rt, ok := tee[ClaimRuntime].(map[string]any)
			if !ok || rt["keys"] == nil || rt["vm-configuration"] == nil {
				t.Fatalf("isolation x-ms-runtime %v", tee[ClaimRuntime])
			}
			if tc.typ == "sevsnpvm" && tee["x-ms-sevsnpvm-vmpl"] == nil {
				t.Fatalf("no SNP claims in %v", tee)
			}
			if tc.typ == "tdxvm" && tee["tdx_mrtd"] == nil {
				t.Fatalf("no TDX claims in %v", tee)
			}
			if c[ClaimVMID] != tc.vmid || c["x-ms-azurevm-is-windows"] != false || c[ClaimProtocolVersion] != "2.0" {
				t.Fatalf("claims %v", c)
			}
			run := c[ClaimRuntime].(map[string]any)
			keys := run["keys"].([]any)
			if k := keys[0].(map[string]any); k["kid"] != EncKeyKid || k["kty"] != "RSA" {
				t.Fatalf("EncKey JWK %v", k)
			}
			if cp := run["client-payload"].(map[string]any); cp["nonce"] != "QURFMDEwMQ==" {
				t.Fatalf("client-payload %v", cp)
			}
			if _, err := json.Marshal(c); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Each binding of the chain broken in turn gives its own error.
func TestVTPMChainBroken(t *testing.T) {
	s := snpSet(t)
	v := New(Options{SNP: snpVerifier(t, pinTrustee), TDX: tdxVerifier(t, pinTrustee)})
	ak := akArea(s.ak)

	// The quote: signature, PCR values.
	_, err := tpm.VerifyPCRQuote(ak, s.quote.msg, flip(s.quote.sig, 0), s.quote.set, s.quote.pcrs)
	wantErr(t, err, maaerr.InvalidQuote, tpm.ErrQuoteSignature, "PcrSignature")
	p := map[int][]byte{}
	for k, d := range s.quote.pcrs {
		p[k] = bytes.Clone(d)
	}
	p[0][0] ^= 1
	_, err = tpm.VerifyPCRQuote(ak, s.quote.msg, s.quote.sig, s.quote.set, p)
	wantErr(t, err, maaerr.InvalidQuote, tpm.ErrPCRDigest, "pcrDigest")
	// The quote made by another AK than HCLAkPub.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, err = tpm.VerifyPCRQuote(akArea(&other.PublicKey), s.quote.msg, s.quote.sig, s.quote.set, s.quote.pcrs)
	wantErr(t, err, maaerr.InvalidQuote, tpm.ErrQuoteSignature, "AikPub")

	// AikPub is not HCLAkPub.
	_, err = v.VerifyIsolation(ctx, s.iso, &other.PublicKey, nil)
	wantErr(t, err, maaerr.InvalidQuote, ErrAKBinding, "HCLAkPub")

	// The runtime claims changed (trustee's byte 0x6e0 of the HCL report,
	// i.e. claims byte 0x6e0-1236).
	iso := s.iso
	iso.RunTimeData = bytes.Clone(s.iso.RunTimeData)
	iso.RunTimeData[0x6e0-hcl.ClaimsOffset]++
	_, err = v.VerifyIsolation(ctx, iso, s.ak, nil)
	wantErr(t, err, maaerr.InvalidQuote, ErrRuntimeBinding, "not bound to the SevSnp report")

	// Another VM's runtime claims (the TDX set's) with this SNP report.
	iso.RunTimeData = tdxSet(t).iso.RunTimeData
	_, err = v.VerifyIsolation(ctx, iso, s.ak, nil)
	wantErr(t, err, maaerr.InvalidQuote, ErrRuntimeBinding, "not bound")

	// VMPL != 0 (checked before the signature, which it also breaks).
	rep, _ := hcl.Parse(s.hcl)
	raw, _ := rep.SNPReport()
	raw[0x30] = 1
	iso = s.iso
	iso.Proof = snpProof(raw, readTD(t, "snp", "vcek.pem"))
	_, err = v.VerifyIsolation(ctx, iso, s.ak, nil)
	wantErr(t, err, maaerr.InvalidQuote, ErrVMPL, "VMPL 1")

	// The SNP report's signature (measurement byte changed).
	raw, _ = rep.SNPReport()
	raw[0x90] ^= 1
	iso.Proof = snpProof(raw, readTD(t, "snp", "vcek.pem"))
	_, err = v.VerifyIsolation(ctx, iso, s.ak, nil)
	if e := maaerr.As(err); e == nil || e.Code != maaerr.InvalidQuote {
		t.Fatalf("tampered SNP report: %v", err)
	}

	// Stale: verified after the VCEK expired (2030-05-02).
	late := New(Options{SNP: snpVerifier(t, time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC))})
	_, err = late.VerifyIsolation(ctx, s.iso, s.ak, nil)
	if e := maaerr.As(err); e == nil || e.Code != maaerr.InvalidQuote {
		t.Fatalf("expired VCEK: %v", err)
	}

	// TDX: the quote's REPORTDATA no longer matches when the claims change;
	// stale collateral (TCB Info valid until 2025-06-26) is refused.
	ts := tdxSet(t)
	tiso := ts.iso
	tiso.RunTimeData = bytes.Clone(ts.iso.RunTimeData)
	tiso.RunTimeData[10] ^= 1
	_, err = v.VerifyIsolation(ctx, tiso, ts.ak, nil)
	wantErr(t, err, maaerr.InvalidQuote, ErrRuntimeBinding, "not bound to the Tdx report")
	_, err = v.VerifyIsolation(ctx, ts.iso, s.ak, nil)
	wantErr(t, err, maaerr.InvalidQuote, ErrAKBinding, "HCLAkPub")
	staleTDX := New(Options{TDX: tdxVerifier(t, time.Date(2025, 7, 15, 0, 0, 0, 0, time.UTC))})
	if _, err := staleTDX.VerifyIsolation(ctx, ts.iso, ts.ak, nil); maaerr.As(err) == nil {
		t.Fatalf("stale TDX collateral accepted: %v", err)
	} else {
		t.Logf("stale TDX collateral: %v", err)
	}
	// A TD quote sent as SNP evidence, and an unconfigured type.
	wrong := ts.iso
	wrong.Type = SevSnp
	_, err = v.VerifyIsolation(ctx, wrong, ts.ak, nil)
	wantErr(t, err, maaerr.InvalidParameter, nil, "Proof")
	_, err = New(Options{}).VerifyIsolation(ctx, s.iso, s.ak, nil)
	wantErr(t, err, maaerr.InvalidParameter, ErrNoIsolation, "SevSnp")
}
