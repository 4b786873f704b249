package openenclave

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence/sgx"
	"github.com/maat-attest/maat/internal/maaerr"
)

func read(t testing.TB, p ...string) []byte {
	t.Helper()
	if len(p) == 1 && !strings.Contains(p[0], "/") {
		p = []string{"maa", p[0]} // the report files live in the shared maa/ folder
	}
	b, err := sgxvectors.Read(strings.Split(filepath.ToSlash(filepath.Join(p...)), "/")...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func b64url(t testing.TB, name string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(string(read(t, name))))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func verifier(t testing.TB, at, dir, fmspc string) (*Verifier, *collateral.Bundle) {
	t.Helper()
	tm, _ := time.Parse(time.RFC3339, at)
	o := sgx.DefaultOptions()
	o.Now = func() time.Time { return tm }
	v, err := sgx.NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := collateral.Get(context.Background(), collateral.Dir{FS: sgxvectors.MustFS(dir)}, fmspc, collateral.CAProcessor)
	if err != nil {
		t.Fatal(err)
	}
	return NewVerifier(v), b
}

// The C++ SDK's OpenEnclave report, as sent to MAA on 2022-11-17; expected
// values are those of the real MAA token for it.
func TestCppSDKReport(t *testing.T) {
	rep := b64url(t, "openenclave_report.b64url")
	r, err := ParseReport(rep)
	if err != nil {
		t.Fatal(err)
	}
	if r.Header != (ReportHeader{1, 2, 4584}) {
		t.Errorf("header %+v", r.Header)
	}
	v, b := verifier(t, "2025-06-01T00:00:00Z", "pcs2025", "00906ED50000")
	res, err := v.Verify(context.Background(), rep, sgx.WithCollateral(b))
	if err != nil {
		t.Fatal(err)
	}
	c := res.Claims()
	want := map[string]any{
		"x-ms-sgx-is-debuggable": true,
		"x-ms-sgx-mrenclave":     "292a1f4b519e46627eb2478a3d9851405653c5b4b0a6925de843834d9216850e",
		"x-ms-sgx-mrsigner":      "4aea5f9a0ed04b11f889aadfe6a1d376213a29a95a85ce7337ae6f7fece6610c",
		"x-ms-sgx-product-id":    1,
		"x-ms-sgx-svn":           1,
		"x-ms-sgx-report-data":   "28542e44fe7e73f6610f6b31ae7576925f09ccdbb4c5646583ecc1561337a8ff0000000000000000000000000000000000000000000000000000000000000000",
	}
	for k, w := range want {
		if c[k] != w {
			t.Errorf("%s = %v, want %v", k, c[k], w)
		}
	}
	if got := c["x-ms-sgx-collateral"].(map[string]any)["quotehash"]; got != "928c12bc25633ed7ef54515c79caa37133cb53f4999d60c648d06d4d43e249b8" {
		t.Errorf("quotehash %v", got)
	}
	rd := b64url(t, "runtime_data.b64url")
	if sum := sha256.Sum256(rd); !bytes.Equal(sum[:], res.Report.ReportData[:32]) {
		t.Errorf("report data does not bind the runtime data")
	}
	if res.Format != FormatLegacyReportRemote || res.TCBStatus == "" {
		t.Errorf("format %s status %q", FormatString(res.Format), res.TCBStatus)
	}
	t.Logf("TCB %s QE %s %v", res.TCBStatus, res.QEStatus, res.AdvisoryIDs)

	// The SGX quote alone hashes to the value MAA reported for attest/SgxEnclave.
	res2, err := v.sgx.Verify(context.Background(), r.Quote, sgx.WithCollateral(b))
	if err != nil {
		t.Fatal(err)
	}
	if h := hex.EncodeToString(res2.Hashes.Quote[:]); !strings.HasPrefix(h, "4f9aa62e") || !strings.HasSuffix(h, "d8b1") {
		t.Errorf("SGX quotehash %s, want 4f9aa62e…d8b1", h)
	}
}

func TestReportHeaderErrors(t *testing.T) {
	rep := b64url(t, "openenclave_report.b64url")
	mut := func(off int, val uint32) []byte {
		b := bytes.Clone(rep)
		binary.LittleEndian.PutUint32(b[off:], val)
		return b
	}
	for name, tc := range map[string]struct {
		b    []byte
		want error
	}{
		"version":   {mut(0, 2), ErrMalformed},
		"type":      {mut(4, 1), ErrUnsupportedFormat},
		"size":      {mut(8, 4583), ErrMalformed},
		"short":     {rep[:10], ErrMalformed},
		"truncated": {rep[:len(rep)-1], ErrMalformed},
	} {
		if _, err := ParseReport(tc.b); !errors.Is(err, tc.want) || !errors.Is(err, &maaerr.Error{Code: maaerr.InvalidParameter}) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func makeEvidence(format [16]byte, data []byte) []byte {
	h := make([]byte, AttestationHeaderSize)
	binary.LittleEndian.PutUint32(h[0:4], AttestationHeaderV3)
	copy(h[4:20], format[:])
	binary.LittleEndian.PutUint64(h[24:32], uint64(len(data)))
	return append(h, data...)
}

func makeClaims(claims ...Claim) []byte {
	b := binary.LittleEndian.AppendUint64(nil, 1)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(claims)))
	for _, c := range claims {
		b = binary.LittleEndian.AppendUint64(b, uint64(len(c.Name)+1))
		b = binary.LittleEndian.AppendUint64(b, uint64(len(c.Value)))
		b = append(append(append(b, c.Name...), 0), c.Value...)
	}
	return b
}

// The 2022 OpenEnclave quote has report_data[0:32] = SHA-256(""): it is the
// quote of SGX_ECDSA evidence with an empty custom claims buffer.
func TestEvidenceSGXECDSA(t *testing.T) {
	q := read(t, "oe2022", "sgx_quote.bin")
	v, b := verifier(t, "2022-05-01T00:00:00Z", "oe2022", "00906ED50000")
	ev := makeEvidence(FormatSGXECDSA, q)
	res, err := v.Verify(context.Background(), ev, sgx.WithCollateral(b))
	if err != nil {
		t.Fatal(err)
	}
	if res.TCBStatus != collateral.SWHardeningNeeded || res.Format != FormatSGXECDSA {
		t.Errorf("status %s", res.TCBStatus)
	}
	if res.Hashes.Quote != sha256.Sum256(ev) {
		t.Errorf("quotehash is not of the whole evidence")
	}
	// With claims appended the binding fails.
	ev2 := makeEvidence(FormatSGXECDSA, append(bytes.Clone(q), makeClaims(Claim{"a", []byte("b")})...))
	e, err := ParseEvidence(ev2)
	if err != nil || len(e.CustomClaims) != 1 || e.CustomClaims[0].Name != "a" {
		t.Fatalf("parse: %v %+v", err, e)
	}
	if _, err := v.Verify(context.Background(), ev2, sgx.WithCollateral(b)); !errors.Is(err, ErrCustomClaimsBinding) {
		t.Errorf("claims binding: %v", err)
	}
	// Other formats are rejected clearly.
	if _, err := ParseEvidence(makeEvidence(FormatSGXLocal, q)); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("local format: %v", err)
	}
	bad := makeEvidence(FormatSGXECDSA, q)
	binary.LittleEndian.PutUint64(bad[24:], uint64(len(q)+1))
	if _, err := ParseEvidence(bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("data size: %v", err)
	}
	// The header padding is not signed: a non-zero byte there would give
	// the same evidence another encoding (and another quotehash).
	for i := 20; i < 24; i++ {
		pad := makeEvidence(FormatSGXECDSA, q)
		pad[i] = 1
		if _, err := ParseEvidence(pad); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "padding") {
			t.Errorf("padding byte %d: %v", i, err)
		}
	}
}

func TestCustomClaims(t *testing.T) {
	b := makeClaims(Claim{"n1", []byte{1, 2}}, Claim{"name2", nil})
	cs, err := ParseCustomClaims(b)
	if err != nil || len(cs) != 2 || cs[0].Name != "n1" || !bytes.Equal(cs[0].Value, []byte{1, 2}) || cs[1].Name != "name2" {
		t.Fatalf("%v %+v", err, cs)
	}
	for i := 0; i < len(b); i++ {
		if _, err := ParseCustomClaims(b[:i]); !errors.Is(err, ErrMalformed) {
			t.Errorf("truncated at %d: %v", i, err)
		}
	}
	if _, err := ParseCustomClaims(append(bytes.Clone(b), 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing byte accepted")
	}
}

func TestOESDKSample(t *testing.T) {
	// enclave.info.release.json from Azure-Samples: an OE report in QuoteHex.
	var s struct{ QuoteHex, MrEnclaveHex string }
	if err := jsonUnmarshal(read(t, "oe_sdk_enclave.info.release.json"), &s); err != nil {
		t.Fatal(err)
	}
	rep, _ := hex.DecodeString(s.QuoteHex)
	v, b := verifier(t, "2025-06-01T00:00:00Z", "pcs2025", "00906ED50000")
	res, err := v.Verify(context.Background(), rep, sgx.WithCollateral(b))
	if err != nil {
		t.Fatal(err)
	}
	if res.Claims()["x-ms-sgx-mrenclave"] != strings.ToLower(s.MrEnclaveHex) {
		t.Errorf("mrenclave %v", res.Claims()["x-ms-sgx-mrenclave"])
	}
}
