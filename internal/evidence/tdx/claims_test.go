package tdx

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/evidence/dcap"
	"github.com/maat-attest/maat/internal/evidence/sgx"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
)

// hclVarData returns the runtime claims (var data) of an HCL report: the
// IGVM request data header at 1216 gives its size at 1232, the data starts
// at 1236 (contract §5.2).
func hclVarData(t testing.TB, hcl []byte) []byte {
	t.Helper()
	n := int(binary.LittleEndian.Uint32(hcl[1232:1236]))
	if 1236+n > len(hcl) {
		t.Fatalf("var data size %d", n)
	}
	return hcl[1236 : 1236+n]
}

func zeros(n int) string { return string(bytes.Repeat([]byte("0"), n)) }

// The Azure DCesv5 quote: every EAT-profile claim against the values the
// vector's README lists (checked there with independent tools).
func TestClaimsAzureDCesv5(t *testing.T) {
	q := readFile(t, "azure_dcesv5", "quote.bin")
	res, err := newVerifier(t, "azure_dcesv5", "2025-06-01T00:00:00Z").Verify(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Claims()
	want := map[string]any{
		"eat_profile":         "https://aka.ms/maa-eat-profile-tdxvm",
		"dbgstat":             "disabled",
		"intuse":              "generic",
		"attester_tcb_status": "OutOfDate",
		"tdx_mrseam":          "360304d34a16aace0a18e09ad2d07d2b9fd3c174378e5bf108388079827f89ff62acc5f8c473dd40706324834e202946",
		"tdx_mrsignerseam":    zeros(96),
		"tdx_mrtd":            "024a32b070383331181619fa387cb4d55d1e38879f989933055ccad5bc2db795d1737b66205949d15469dc8c1ba7ab7b",
		"tdx_mrconfigid":      zeros(96), "tdx_mrowner": zeros(96), "tdx_mrownerconfig": zeros(96),
		"tdx_rtmr0": zeros(96), "tdx_rtmr1": zeros(96), "tdx_rtmr2": zeros(96), "tdx_rtmr3": zeros(96),
		"tdx_report_data":                   "9734504f161d104c74e3165c15f779b06a9bb40dfa71937817d7eee68e593839" + zeros(64),
		"tdx_seam_attributes":               zeros(16),
		"tdx_td_attributes":                 zeros(16),
		"tdx_xfam":                          "e718060000000000",
		"tdx_tee_tcb_svn":                   "02010600000000000000000000000000",
		"tdx_seamsvn":                       0x0102,
		"tdx_td_attributes_debug":           false,
		"tdx_td_attributes_septve_disable":  false,
		"tdx_td_attributes_protection_keys": false,
		"tdx_td_attributes_key_locker":      false,
		"tdx_td_attributes_perfmon":         false,
		"x-maat-tdx-fmspc":                  "00806F050000",
		"x-maat-tdx-tcb-eval-num":           17,
		"x-maat-tdx-qe-status":              "UpToDate",
		"x-maat-tdx-module-id":              "TDX_01",
		"x-maat-tdx-module-status":          "OutOfDate",
		"x-maat-tdx-platform-tcb-status":    "OutOfDate",
		"x-maat-tdx-tcb-date":               "2023-08-09T00:00:00Z",
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s = %#v, want %#v", k, c[k], v)
		}
	}
	adv, _ := json.Marshal(c["x-maat-tdx-advisory-ids"])
	if string(adv) != `["INTEL-SA-00960","INTEL-SA-00982","INTEL-SA-00986"]` {
		t.Errorf("advisories %s", adv)
	}
	coll := c["x-maat-tdx-collateral"].(map[string]any)
	if coll["quotehash"] != hexSHA(q) || coll["tcbinfohash"] != hexSHA(readFile(t, "azure_dcesv5", "tdx_tcb_info_00806F050000.json")) {
		t.Errorf("collateral hashes %v", coll)
	}
	for _, k := range []string{"x-maat-tdx-tcb-unmatched", "x-maat-tdx-tee-tcb-svn2", "x-maat-tdx-mrservicetd", "x-maat-collateral-expired"} {
		if _, ok := c[k]; ok {
			t.Errorf("%s present", k)
		}
	}
	if len(c) != len(want)+2 {
		t.Errorf("%d claims, want %d", len(c), len(want)+2)
	}
}

func hexSHA(b []byte) string {
	h := sha256.Sum256(b)
	return hexs(h[:])
}

func hexs(b []byte) string {
	const d = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, d[x>>4], d[x&15])
	}
	return string(out)
}

// The Azure TDX chain through the evidence adapter: the HCL report's var
// data is the runtime data, its SHA-256 the quote's REPORTDATA[0:32].
func TestAdapterAzureChain(t *testing.T) {
	q := readFile(t, "azure_dcesv5", "quote.bin")
	rd := hclVarData(t, readFile(t, "azure_dcesv5", "hcl-report.bin"))
	ev := NewEvidenceVerifier(newVerifier(t, "azure_dcesv5", "2025-06-01T00:00:00Z"), nil)
	v, err := ev.Verify(context.Background(), q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.AttestationType != "tdxvm" || v.RuntimeData == nil || v.InitTimeData == nil {
		t.Fatalf("%+v", v)
	}
	if h := sha256.Sum256(rd); !bytes.Equal(h[:], v.RuntimeData.Value) {
		t.Errorf("SHA-256(var data) %x != REPORTDATA[0:32] %x", h, v.RuntimeData.Value)
	}
	var doc map[string]any
	if err := json.Unmarshal(rd, &doc); err != nil || doc["vm-configuration"] == nil {
		t.Errorf("var data is not the HCL runtime claims: %v", err)
	}
	// MRCONFIGID is zero: init-time data binds SHA-256 to its first half.
	if len(v.InitTimeData.Value) != 32 || !bytes.Equal(v.InitTimeData.Value, make([]byte, 32)) {
		t.Errorf("init-time binding %x", v.InitTimeData.Value)
	}
	// A narrower acceptance rejects the OutOfDate quote with the reasons.
	strict := NewEvidenceVerifier(newVerifier(t, "azure_dcesv5", "2025-06-01T00:00:00Z"), []TCBStatus{collateral.UpToDate})
	_, err = strict.Verify(context.Background(), q, nil)
	var me *maaerr.Error
	if !errors.Is(err, ErrTCBStatusNotAccepted) || !errors.As(err, &me) || me.Code != maaerr.InvalidParameter ||
		!bytes.Contains([]byte(me.Message), []byte("INTEL-SA-00960")) {
		t.Errorf("strict: %v", err)
	}
	// A baseline the collateral does not have is a clear 400.
	_, err = ev.Verify(context.Background(), q, evidence.Config{PropertyTCBIdentifier: int64(16)})
	if !errors.As(err, &me) || me.Code != maaerr.InvalidParameter || !bytes.Contains([]byte(me.Message), []byte("TCB baseline 16 is not available")) {
		t.Errorf("baseline 16: %v", err)
	}
	// The one it has is used.
	if _, err := ev.Verify(context.Background(), q, evidence.Config{PropertyTCBIdentifier: "17"}); err != nil {
		t.Errorf("baseline 17: %v", err)
	}
	if _, err := ev.Verify(context.Background(), q, evidence.Config{PropertyTCBIdentifier: "x"}); !errors.As(err, &me) || me.Code != maaerr.InvalidParameter {
		t.Errorf("baseline x: %v", err)
	}
}

// SGX quotes are refused by the TD parser, TD quotes by the SGX parser.
func TestTEETypeSeparation(t *testing.T) {
	_, err := ParseQuote(sgxvectors.MustRead("dcapqvl", "sgx_quote.bin"))
	var me *maaerr.Error
	if !errors.Is(err, dcap.ErrUnsupportedQuote) || !errors.As(err, &me) || me.Code != maaerr.InvalidParameter {
		t.Errorf("SGX quote: %v", err)
	}
	if _, err := sgx.ParseQuote(readFile(t, "dcapqvl_v4", "quote.bin")); !errors.Is(err, dcap.ErrUnsupportedQuote) {
		t.Errorf("TD quote as SGX: %v", err)
	}
}

// The unmatched-level message names the FMSPC, the PCK components and the
// lowest level, and no QVL hex code.
func TestUnmatchedMessage(t *testing.T) {
	_, err := newVerifier(t, "azure_dcesv6", "2026-02-20T00:00:00Z").Verify(context.Background(), readFile(t, "azure_dcesv6", "quote_v5.bin"))
	var me *maaerr.Error
	if !errors.As(err, &me) {
		t.Fatal(err)
	}
	for _, s := range []string{"FMSPC 90C06F000000", "SGX components [3 3 2 2 4 1 0 3", "the lowest level (", "tdx-unmatched-tcb-level out-of-date"} {
		if !bytes.Contains([]byte(me.Message), []byte(s)) {
			t.Errorf("message lacks %q: %s", s, me.Message)
		}
	}
	if bytes.Contains([]byte(me.Error()), []byte("0xe0")) {
		t.Errorf("opaque code in %s", me.Error())
	}
}

func TestParseQVLSampleDERChain(t *testing.T) {
	q, err := ParseQuote(readFile(t, "qvltestpki", "quote.dat"))
	if err != nil {
		t.Fatal(err)
	}
	ders, err := q.PCKChain()
	if err != nil || len(ders) != 3 {
		t.Fatalf("DER chain: %d %v", len(ders), err)
	}
}

// Decision D6: x-ms-compliance-status azure-compliant-cvm only when the
// configured MRTD list holds the TD's MRTD and the MRSEAM list, if any, its
// module's (MRSEAM alone, no lists or no Compliance issue nothing), never
// for a debuggable TD.
func TestCompliance(t *testing.T) {
	q := readFile(t, "azure_dcesv5", "quote.bin")
	parsed, err := ParseQuote(q)
	if err != nil {
		t.Fatal(err)
	}
	r := parsed.Body
	v := newVerifier(t, "azure_dcesv5", "2025-06-01T00:00:00Z")
	other := r.MRTD
	other[0] ^= 1
	cases := []struct {
		name string
		c    *Compliance
		want bool
	}{
		{"no compliance configured", nil, false},
		{"empty lists", &Compliance{}, false},
		{"MRSEAM and MRTD listed", &Compliance{MRSEAM: [][48]byte{other, r.MRSEAM}, MRTD: [][48]byte{r.MRTD}}, true},
		{"MRSEAM alone vouches for no image", &Compliance{MRSEAM: [][48]byte{r.MRSEAM}}, false},
		{"MRTD listed, MRSEAM unconstrained", &Compliance{MRTD: [][48]byte{r.MRTD}}, true},
		{"MRTD not listed", &Compliance{MRSEAM: [][48]byte{r.MRSEAM}, MRTD: [][48]byte{other}}, false},
		{"MRSEAM not listed", &Compliance{MRSEAM: [][48]byte{other}, MRTD: [][48]byte{r.MRTD}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []AdapterOption
			if tc.c != nil {
				opts = append(opts, WithCompliance(tc.c))
			}
			ver, err := NewEvidenceVerifier(v, nil, opts...).Verify(context.Background(), q, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := ver.Claims[ClaimCompliance]
			if ok != tc.want || ok && got != CompliantCVM {
				t.Fatalf("%s = %v (present %v), want present %v", ClaimCompliance, got, ok, tc.want)
			}
		})
	}
	// A debuggable TD is never compliant, whatever its measurements.
	dbg := r
	dbg.TDAttributes[0] |= 1 << TDAttrDebug
	c := &Compliance{MRSEAM: [][48]byte{r.MRSEAM}, MRTD: [][48]byte{r.MRTD}}
	if !c.Compliant(&r) || c.Compliant(&dbg) {
		t.Fatalf("compliant: plain %v, debug %v", c.Compliant(&r), c.Compliant(&dbg))
	}
	if _, err := ParseMeasurement(hexs(r.MRTD[:])); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", hexs(r.MRTD[:47]), hexs(r.MRTD[:]) + "00", strings.Repeat("g", 96)} {
		if _, err := ParseMeasurement(bad); err == nil {
			t.Errorf("ParseMeasurement(%q) accepted", bad)
		}
	}
}
