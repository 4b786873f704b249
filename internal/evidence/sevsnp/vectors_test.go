package sevsnp

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/maaerr"
)

func allVectors(t testing.TB) []vector {
	var vs []vector
	for _, p := range []struct {
		file    string
		product Product
		tcb     TCB
		version uint32
	}{
		{"milan", ProductMilan, TCB{Bootloader: 4, TEE: 0, SNP: 24, Microcode: 0xDB}, 3},
		{"genoa", ProductGenoa, TCB{}, 3},
		{"turin", ProductTurin, TCB{FMC: 1, Bootloader: 1, TEE: 1, SNP: 4, Microcode: 0x51}, 5},
	} {
		v := tavVector(t, p.file)
		v.name, v.product, v.tcb, v.version = "tav/"+p.file, p.product, p.tcb, p.version
		vs = append(vs, v)
	}
	vs = append(vs, vector{name: "tav/crypto_milan (re-issued VCEK)", report: readTD(t, "tav/crypto_milan_attestation_report.bin"),
		chain: readTD(t, "tav/crypto_milan_vcek.pem"), at: pinTAV, product: ProductMilan, version: 3, tcb: TCB{Bootloader: 4, SNP: 24, Microcode: 0xDB}})
	hcl := readTD(t, "trustee/hcl-report.bin")
	vs = append(vs, vector{name: "trustee/hcl-report (v2 Milan)", report: hcl[32 : 32+ReportSize], chain: readTD(t, "trustee/vcek.pem"),
		at: pinTrustee, product: ProductMilan, version: 2, tcb: TCB{Bootloader: 3, TEE: 0, SNP: 8, Microcode: 115}})
	r, c := trusteeEvidence(t, "evidence-v0.json")
	vs = append(vs, vector{name: "trustee/evidence-v0 (v3 Milan, ucode 0xDB)", report: r, chain: c, at: pinTrustee, product: ProductMilan, version: 3,
		tcb: TCB{Bootloader: 4, SNP: 24, Microcode: 219}})
	r, c = trusteeEvidence(t, "evidence-v2.json")
	vs = append(vs, vector{name: "trustee/evidence-v2 (v3 Milan, DER VCEK)", report: r, chain: c, at: pinTrustee, product: ProductMilan, version: 3,
		tcb: TCB{Bootloader: 4, SNP: 24, Microcode: 219}})
	r, c = trusteeEvidence(t, "evidence-genoa.json")
	vs = append(vs, vector{name: "trustee/evidence-genoa (v3 Genoa)", report: r, chain: c, at: pinTrustee, product: ProductGenoa, version: 3,
		tcb: TCB{Bootloader: 10, TEE: 0, SNP: 23, Microcode: 84}})
	raw, _ := s25Evidence(t)
	ev, err := DecodeEvidence(raw)
	if err != nil {
		t.Fatal(err)
	}
	vs = append(vs, vector{name: "maa/2025 sample (v2 Milan)", report: ev.Report, chain: ev.Chain, at: pinS25, product: ProductMilan, version: 2,
		tcb: TCB{Bootloader: 3, TEE: 0, SNP: 8, Microcode: 115}})
	raw, _, _ = ex22(t)
	ev, err = DecodeEvidence(raw)
	if err != nil {
		t.Fatal(err)
	}
	vs = append(vs, vector{name: "maa/2022 spec example (v1 Milan)", report: ev.Report, chain: ev.Chain, at: pinEX22, product: ProductMilan, version: 1,
		tcb: TCB{Microcode: 40}})
	return vs
}

func TestVectors(t *testing.T) {
	for _, vec := range allVectors(t) {
		t.Run(vec.name, func(t *testing.T) {
			r, err := ParseReport(vec.report)
			if err != nil {
				t.Fatal(err)
			}
			if r.Version != vec.version {
				t.Errorf("version %d, want %d", r.Version, vec.version)
			}
			v := newTestVerifier(t, vec.at, nil)
			res, err := v.VerifyReport(context.Background(), r, vec.chain)
			if err != nil {
				t.Fatal(err)
			}
			if res.Product != vec.product || res.SigningKey != SigningKeyVCEK {
				t.Errorf("product %s key %s, want %s vcek", res.Product, res.SigningKey, vec.product)
			}
			if vec.tcb != (TCB{}) && res.ReportedTCB != vec.tcb {
				t.Errorf("reported TCB %v, want %v", res.ReportedTCB, vec.tcb)
			}
			if r.Version >= 3 && r.CPUIDProduct() != vec.product {
				t.Errorf("CPUID product %q, want %s", r.CPUIDProduct(), vec.product)
			}
			// The same chain again comes from the cache and still checks the report.
			if _, err := v.VerifyReport(context.Background(), r, vec.chain); err != nil {
				t.Fatalf("second (cached) verification: %v", err)
			}
			// Outside the VCEK's validity the same evidence fails.
			late := newTestVerifier(t, res.Leaf.NotAfter.Add(time.Hour), nil)
			if _, err := late.VerifyReport(context.Background(), r, vec.chain); !errors.Is(err, ErrCertificateExpiry) {
				t.Errorf("after notAfter: %v, want ErrCertificateExpiry", err)
			}
		})
	}
}

func TestProductDetection(t *testing.T) {
	for _, c := range []struct {
		file             string
		fam, model, step uint8
		want             Product
	}{
		{"milan", 0x19, 0x01, 0x01, ProductMilan},
		{"genoa", 0x19, 0x11, 0x01, ProductGenoa},
		{"turin", 0x1a, 0x02, 0x00, ProductTurin},
	} {
		r, err := ParseReport(readTD(t, "tav/"+c.file+"_attestation_report.bin"))
		if err != nil {
			t.Fatal(err)
		}
		if r.CPUIDFamily != c.fam || r.CPUIDModel != c.model || r.CPUIDProduct() != c.want {
			t.Errorf("%s: CPUID %02x/%02x/%02x → %q, want %02x/%02x → %s", c.file, r.CPUIDFamily, r.CPUIDModel, r.CPUIDStepping, r.CPUIDProduct(), c.fam, c.model, c.want)
		}
	}
	// v2 reports carry no CPUID: the product is Unknown until the chain names it.
	raw, _ := s25Evidence(t)
	ev, _ := DecodeEvidence(raw)
	r, _ := ParseReport(ev.Report)
	if r.CPUIDProduct() != ProductUnknown {
		t.Errorf("v2 report: CPUID product %q, want unknown", r.CPUIDProduct())
	}
	ch, err := ParseChain(ev.Chain)
	if err != nil {
		t.Fatal(err)
	}
	if p := productOfChain(ch); p != ProductMilan {
		t.Errorf("chain product %q, want Milan", p)
	}
	// Genoa VCEK alone: the issuer CN names the product.
	_, vcek := trusteeEvidence(t, "evidence-genoa.json")
	ch, _ = ParseChain(vcek)
	if p := productOfChain(ch); p != ProductGenoa {
		t.Errorf("Genoa VCEK alone: product %q", p)
	}
}

func TestTurinLayout(t *testing.T) {
	vec := tavVector(t, "turin")
	r, err := ParseReport(vec.report)
	if err != nil {
		t.Fatal(err)
	}
	if got := DecomposeTCB(ProductTurin, r.ReportedTCB); got != (TCB{FMC: 1, Bootloader: 1, TEE: 1, SNP: 4, Microcode: 0x51}) {
		t.Fatalf("Turin REPORTED_TCB %v", got)
	}
	// Read with the Milan layout the same bytes give other values: the layout matters.
	if got := DecomposeTCB(ProductMilan, r.ReportedTCB); got.SNP == 4 {
		t.Fatalf("Milan layout of Turin bytes unexpectedly gives snp 4: %v", got)
	}
	ch, _ := ParseChain(vec.chain)
	ext, err := ParseLeafExtensions(ch.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	if !ext.HasFMC || ext.TCB.FMC != 1 || len(ext.HWID) != 8 || ext.ProductName != "Turin" {
		t.Fatalf("Turin VCEK extensions: %+v", ext)
	}
	res, err := newTestVerifier(t, pinTAV, nil).VerifyReport(context.Background(), r, vec.chain)
	if err != nil {
		t.Fatal(err)
	}
	cl := res.Claims()
	if cl[ClaimFMCSVN] != 1 || cl[ClaimBootloaderSVN] != 1 || cl[ClaimTEESVN] != 1 || cl[ClaimSNPFWSVN] != 4 || cl[ClaimMicrocodeSVN] != 0x51 {
		t.Errorf("Turin claims: %v", cl)
	}
	if cl[ClaimReportedTCB] != "0101010400000051" || cl[ClaimReportVersion] != 5 || cl[ClaimProduct] != "Turin" {
		t.Errorf("Turin extras: %v %v %v", cl[ClaimReportedTCB], cl[ClaimReportVersion], cl[ClaimProduct])
	}
}

// TestMilanDERInteger: ucode 0xDB is encoded 02 02 00 DB; a reader taking a
// fixed byte would get 0.
func TestMilanDERInteger(t *testing.T) {
	ch, err := ParseChain(readTD(t, "tav/milan_vcek.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ext, err := ParseLeafExtensions(ch.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	if ext.TCB.Microcode != 0xDB || ext.ProductName != "Milan-B0" || len(ext.HWID) != 64 {
		t.Fatalf("Milan VCEK: %+v", ext)
	}
}

// compareMAA checks every x-ms-sevsnpvm-* claim of a real MAA token against ours.
func compareMAA(t *testing.T, ours map[string]any, maa map[string]any) {
	t.Helper()
	n := 0
	for k, want := range maa {
		if !strings.HasPrefix(k, "x-ms-sevsnpvm-") {
			continue
		}
		n++
		a, _ := json.Marshal(ours[k])
		b, _ := json.Marshal(want)
		if string(a) != string(b) {
			t.Errorf("%s = %s, MAA's token has %s", k, a, b)
		}
	}
	if n != 17 {
		t.Errorf("MAA token has %d x-ms-sevsnpvm-* claims, want 17", n)
	}
	for _, k := range MAAClaimNames() {
		if _, ok := maa[k]; !ok {
			t.Errorf("claim %s not in MAA's token", k)
		}
	}
	if ours[ClaimAttestationType] != maa[ClaimAttestationType] {
		t.Errorf("attestation type %v, MAA %v", ours[ClaimAttestationType], maa[ClaimAttestationType])
	}
	for k := range ours {
		if strings.Contains(strings.ToLower(k), "chip") {
			t.Errorf("claim %s leaks the chip ID", k)
		}
	}
}

func TestMAA2025Pair(t *testing.T) {
	raw, otherRuntime := s25Evidence(t)
	v := newTestVerifier(t, pinS25, nil)
	vd, err := v.Verify(context.Background(), raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	maa := s25Claims(t)
	compareMAA(t, vd.Claims, maa)
	if vd.Claims[ClaimMicrocodeSVN] != 115 {
		t.Errorf("microcode-svn %v, want 115 (REPORTED_TCB; CURRENT has 210)", vd.Claims[ClaimMicrocodeSVN])
	}
	if _, ok := vd.Claims[ClaimCompliance]; ok {
		t.Error("x-ms-compliance-status without configuration")
	}
	if vd.AttestationType != "sevsnpvm" || vd.RuntimeData.Field != "report_data[0:32]" || vd.InitTimeData.Field != "host_data" {
		t.Errorf("bindings: %+v %+v", vd.RuntimeData, vd.InitTimeData)
	}
	// The sample's runtime data belongs to the 2022 report: its hash is not this report_data.
	sum := sha256.Sum256(otherRuntime)
	if string(sum[:]) == string(vd.RuntimeData.Value) {
		t.Fatal("sample runtime data unexpectedly binds to this report")
	}
	_, ex22Runtime, _ := ex22(t)
	if string(ex22Runtime) != string(otherRuntime) {
		t.Error("the sample runtime data is not the 2022 example's (provenance note wrong)")
	}
}

func TestMAA2022Pair(t *testing.T) {
	raw, runtime, maa := ex22(t)
	v := newTestVerifier(t, pinEX22, nil)
	vd, err := v.Verify(context.Background(), raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	compareMAA(t, vd.Claims, maa)
	sum := sha256.Sum256(runtime)
	if string(sum[:]) != string(vd.RuntimeData.Value) {
		t.Error("2022 runtime data does not bind to report_data[0:32]")
	}
	if _, ok := vd.Claims[ClaimCompliance]; ok {
		t.Error("compliance without configuration")
	}
	// With the ID-key digest MAA's token implies configured, compliance appears.
	var d [48]byte
	copy(d[:], mustHex(t, maa[ClaimIDKeyDigest].(string)))
	v = newTestVerifier(t, pinEX22, func(o *Options) { o.CompliantCVM = &CVMCompliance{IDKeyDigests: [][48]byte{d}} })
	vd, err = v.Verify(context.Background(), raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if vd.Claims[ClaimCompliance] != maa[ClaimCompliance] {
		t.Errorf("compliance %v, MAA %v", vd.Claims[ClaimCompliance], maa[ClaimCompliance])
	}
}

func TestMinimumTCB(t *testing.T) {
	vec := tavVector(t, "milan")
	raw := evidenceJSON(vec.report, vec.chain)
	ok := newTestVerifier(t, pinTAV, func(o *Options) {
		o.MinimumTCB = map[Product]TCB{ProductMilan: {Bootloader: 4, SNP: 24, Microcode: 0xDB}}
	})
	vd, err := ok.Verify(context.Background(), raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if vd.Claims[ClaimTCBStatus] != TCBUpToDate || vd.Claims[ClaimMinimumTCB] != "fmc=0 bl=4 tee=0 snp=24 ucode=219" {
		t.Errorf("claims %v %v", vd.Claims[ClaimTCBStatus], vd.Claims[ClaimMinimumTCB])
	}
	min := map[Product]TCB{ProductMilan: {Bootloader: 4, SNP: 25}}
	strict := newTestVerifier(t, pinTAV, func(o *Options) { o.MinimumTCB = min })
	_, err = strict.Verify(context.Background(), raw, nil)
	if !errors.Is(err, ErrTCBBelowMinimum) || maaerr.As(err).Code != maaerr.InvalidParameter || !strings.Contains(err.Error(), "snp 24 < 25") {
		t.Fatalf("below minimum: %v", err)
	}
	lax := newTestVerifier(t, pinTAV, func(o *Options) { o.MinimumTCB = min; o.AllowBelowMinimum = true })
	vd, err = lax.Verify(context.Background(), raw, nil)
	if err != nil || vd.Claims[ClaimTCBStatus] != TCBBelowMinimum {
		t.Fatalf("allowed below minimum: %v %v", err, vd)
	}
	// A minimum for Genoa does not apply to Milan.
	other := newTestVerifier(t, pinTAV, func(o *Options) { o.MinimumTCB = map[Product]TCB{ProductGenoa: {SNP: 255}} })
	vd, err = other.Verify(context.Background(), raw, nil)
	if err != nil || vd.Claims[ClaimTCBStatus] != TCBNoMinimum {
		t.Fatalf("other product's minimum: %v", err)
	}
}

// TestTrusteeDerivedRequest: the SevSnpVm request a real Azure CVM's HCL
// report yields (contract §8.1): the SNP report at [32, 1216) with its chain
// as evidence, the HCL var data (runtime claims JSON) as runtime data bound
// to report_data[0:32].
func TestTrusteeDerivedRequest(t *testing.T) {
	hcl := readTD(t, "trustee/hcl-report.bin")
	size := int(binary.LittleEndian.Uint32(hcl[1216+16:])) // IGVM request data header: claim size
	varData := hcl[1236 : 1236+size]
	var doc map[string]any
	if err := json.Unmarshal(varData, &doc); err != nil || doc["keys"] == nil {
		t.Fatalf("var data is not the runtime claims JSON: %v", err)
	}
	vd, err := newTestVerifier(t, pinTrustee, nil).Verify(context.Background(), evidenceJSON(hcl[32:32+ReportSize], readTD(t, "trustee/vcek.pem")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(varData); string(sum[:]) != string(vd.RuntimeData.Value) {
		t.Fatal("SHA-256(var data) != report_data[0:32]")
	}
	if vd.Claims[ClaimIDKeyDigest] != "0356215882a825279a85b300b0b742931d113bf7e32dde2e50ffde7ec743ca491ecdd7f336dc28a6e0b2bb57af7a44a3" || vd.Claims[ClaimMicrocodeSVN] != 115 || vd.Claims[ClaimVMPL] != 0 {
		t.Errorf("claims: %v %v %v", vd.Claims[ClaimIDKeyDigest], vd.Claims[ClaimMicrocodeSVN], vd.Claims[ClaimVMPL])
	}
}
