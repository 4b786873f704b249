package hcl

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readTD(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func readB64(tb testing.TB, name string) []byte {
	tb.Helper()
	s := strings.TrimSpace(string(readTD(tb, name)))
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// The expectations come from the vector READMEs (testdata/README.md).
var vectors = []struct {
	file    string
	version uint32
	size    uint32
	typ     ReportType
	claims  int
	digest  string // leading bytes of SHA-256(claims) = report data
	vmid    string
	keys    int
	bound   bool
}{
	{"trustee-snp-hcl-report.bin", 1, 2346, ReportTypeSNP, 1110, "b3fbad6514c83cae", "911B0EF8-9DBA-48B0-B275-4E4DF2D39252", 2, true},
	{"trustee-tdx-hcl-report.bin", 2, 2437, ReportTypeTDX, 1201, "9734504f161d104c", "6332533D-5649-4D02-8AA7-8F64B7C3EE21", 2, true},
	{"azcvm-hcl-report-snp.bin", 1, 1819, ReportTypeSNP, 583, "1d0a466a9eed975e", "BAEFD3E1-184B-4C4C-AB88-0BDAD260505F", 1, true},
	{"azcvm-hcl-report-tdx.bin", 2, 2438, ReportTypeTDX, 1202, "e8f0796193ba21d6", "D270E56B-F668-4990-A5BC-9B624576841D", 2, true},
	{"cat-hcl-report-tdx.bin", 2, 2418, ReportTypeTDX, 1182, "07bbc6d96c02eef8", "00000000-0000-0000-0000-000000000000", 2, true},
}

func TestParseVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.file, func(t *testing.T) {
			b := readTD(t, v.file)
			r, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if r.Version != v.version || r.ReportSize != v.size || r.RequestType != 2 || r.ReportType != v.typ || r.HashType != HashSHA256 || len(r.Claims) != v.claims {
				t.Fatalf("got v%d size %d req %d type %v hash %v claims %d", r.Version, r.ReportSize, r.RequestType, r.ReportType, r.HashType, len(r.Claims))
			}
			if r.ReportSize != uint32(ClaimsOffset+v.claims) || r.RuntimeDataSize != uint32(20+v.claims) || r.RuntimeDataVersion != 1 {
				t.Fatalf("size words %d %d", r.ReportSize, r.RuntimeDataSize)
			}
			rd := r.ReportData()
			if got := hex.EncodeToString(rd[:8]); got != v.digest {
				t.Fatalf("report data %s, want %s", got, v.digest)
			}
			if ClaimsBound(r.Claims, r.HashType, rd) != v.bound {
				t.Fatalf("ClaimsBound = %v", !v.bound)
			}
			if h, ok := BoundHash(r.Claims, rd); !ok || h != HashSHA256 {
				t.Fatalf("BoundHash = %v %v", h, ok)
			}
			if ClaimsBound(r.Claims, HashSHA384, rd) {
				t.Fatal("SHA-384 must not bind a SHA-256 report")
			}
			c, err := ParseRuntimeClaims(r.Claims)
			if err != nil {
				t.Fatal(err)
			}
			if c.VMUniqueID() != v.vmid || len(c.Keys) != v.keys {
				t.Fatalf("vmid %s keys %d", c.VMUniqueID(), len(c.Keys))
			}
			ak, ok := c.Key(KidAkPub)
			if !ok {
				t.Fatal("no HCLAkPub")
			}
			pub, err := ak.RSAPublicKey()
			if err != nil || pub.N.BitLen() != 2048 || pub.E != 65537 {
				t.Fatalf("HCLAkPub: %v", err)
			}
			switch v.typ {
			case ReportTypeSNP:
				s, err := r.SNPReport()
				if err != nil || len(s) != HWReportSize || !bytes.Equal(s, b[32:1216]) {
					t.Fatalf("SNPReport: %v", err)
				}
				if _, err := r.TDReport(); !errors.Is(err, ErrMalformed) {
					t.Fatal("TDReport of an SNP report")
				}
			case ReportTypeTDX:
				s, err := r.TDReport()
				if err != nil || len(s) != TDReportSize || s[0] != 0x81 {
					t.Fatalf("TDReport: %v", err)
				}
				if _, err := r.SNPReport(); !errors.Is(err, ErrMalformed) {
					t.Fatal("SNPReport of a TDX report")
				}
			}
			// Parse copies its input.
			b[ClaimsOffset] ^= 0xFF
			b[HWReportOffset] ^= 0xFF
			if r.Claims[0] == b[ClaimsOffset] || r.HWReport[0] == b[HWReportOffset] {
				t.Fatal("Parse did not copy its input")
			}
		})
	}
}

// The C++ client's test splits this report into the SNP report and the
// variable data given next to it (its report_data is not their hash).
func TestParseCGASplit(t *testing.T) {
	b := readB64(t, "ClientLibTests.TestExtractSnpReportAndRuntimeDataFromHclReport.hcl_report_base64.txt")
	snp := readB64(t, "ClientLibTests.TestExtractSnpReportAndRuntimeDataFromHclReport.snp_report_base64.txt")
	vd := readB64(t, "ClientLibTests.TestExtractSnpReportAndRuntimeDataFromHclReport.variable_data_base64.txt")
	r, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.SNPReport()
	if err != nil || !bytes.Equal(s, snp) {
		t.Fatalf("SNP report differs from the client's split (%v)", err)
	}
	if !bytes.Equal(r.Claims, vd) {
		t.Fatal("claims differ from the client's variable data")
	}
	if ClaimsBound(r.Claims, r.HashType, r.ReportData()) {
		t.Fatal("this sample is not bound; the test would not notice a broken ClaimsBound")
	}
	if _, ok := BoundHash(r.Claims, r.ReportData()); ok {
		t.Fatal("BoundHash found a binding that does not exist")
	}
}

func TestParseErrors(t *testing.T) {
	good := readTD(t, "trustee-snp-hcl-report.bin")
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	put := func(off int, v uint32) []byte {
		return mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[off:], v); return b })
	}
	cases := map[string]struct {
		in   []byte
		want string
	}{
		"empty":         {nil, "fewer than"},
		"truncated":     {good[:ClaimsOffset-1], "fewer than"},
		"oversized":     {make([]byte, MaxReportBytes+1), "more than"},
		"signature":     {mut(func(b []byte) []byte { b[0] = 'X'; return b }), "signature"},
		"type VBS":      {put(1224, 1), "report type VBS"},
		"type unknown":  {put(1224, 9), "report type unknown(9)"},
		"hash 0":        {put(1228, 0), "hash type 0"},
		"hash 4":        {put(1228, 4), "hash type 4"},
		"claims beyond": {put(1232, uint32(len(good)-ClaimsOffset+1)), "exceeds"},
		"claims huge":   {put(1232, 0xFFFFFFFF), "exceeds"},
		"claims zero":   {put(1232, 0), "claim size is 0"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(c.in)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrMalformed mentioning %q", err, c.want)
			}
		})
	}
	// The size words are not measured: other values parse.
	if _, err := Parse(put(8, 7)); err != nil {
		t.Fatal(err)
	}
	// A byte of the claims changed: still parses, no longer bound.
	r, err := Parse(mut(func(b []byte) []byte { b[0x6e0]++; return b }))
	if err != nil || ClaimsBound(r.Claims, r.HashType, r.ReportData()) {
		t.Fatalf("tampered claims: err %v or still bound", err)
	}
}

func TestRuntimeClaimsErrors(t *testing.T) {
	cases := map[string]string{
		"not json":       `{"keys":`,
		"not object":     `[1]`,
		"duplicate":      `{"keys":[],"keys":[]}`,
		"nested dup":     `{"vm-configuration":{"secure-boot":true,"secure-boot":false}}`,
		"keys type":      `{"keys":{}}`,
		"key type":       `{"keys":[1]}`,
		"kid type":       `{"keys":[{"kid":1}]}`,
		"key_ops type":   `{"keys":[{"key_ops":"sign"}]}`,
		"key_ops member": `{"keys":[{"key_ops":[1]}]}`,
		"vmconf type":    `{"vm-configuration":[]}`,
		"user-data type": `{"user-data":1}`,
		"trailing":       `{} {}`,
		"deep":           strings.Repeat(`{"a":`, 20) + `1` + strings.Repeat(`}`, 20),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseRuntimeClaims([]byte(in)); !errors.Is(err, ErrClaims) {
				t.Fatalf("got %v, want ErrClaims", err)
			}
		})
	}
	c, err := ParseRuntimeClaims([]byte(`{"keys":[{"kid":"HCLAkPub","kty":"RSA","n":"AQAB","e":"AQAB"},{"kid":"HCLAkPub"}]}` + "\x00\x00"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Key(KidAkPub); ok {
		t.Fatal("two HCLAkPub keys must not yield one")
	}
	for _, k := range []JWK{{Kty: "EC"}, {Kty: "RSA", N: "AQAB", E: "AQAB"}, {Kty: "RSA", N: "!", E: "AQAB"}, {Kty: "RSA", N: strings.Repeat("A", 344), E: "Ag"}} {
		if _, err := k.RSAPublicKey(); err == nil {
			t.Fatalf("accepted JWK %+v", k)
		}
	}
}

// The hash type is not sent in AzureGuest: BoundHash finds SHA-384 and
// SHA-512 bindings as well, and only the matching one.
func TestBoundHashTypes(t *testing.T) {
	claims := []byte(`{"keys":[]}`)
	for _, h := range HashTypes() {
		rd := make([]byte, 64)
		copy(rd, h.Sum(claims))
		got, ok := BoundHash(claims, rd)
		if !ok || got != h {
			t.Fatalf("%v: BoundHash = %v %v", h, got, ok)
		}
		rd[len(h.Sum(nil))-1] ^= 1
		if _, ok := BoundHash(claims, rd); ok {
			t.Fatalf("%v: a changed last digest byte still binds", h)
		}
	}
	if ClaimsBound(claims, HashType(9), make([]byte, 64)) || ClaimsBound(claims, HashSHA512, make([]byte, 32)) {
		t.Fatal("unknown hash type or short report data bound")
	}
}
