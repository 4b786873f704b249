package azureguest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/maaerr"
)

// reencode rewrites the example's AttestationInfo: member names through
// name, every base64 string through b64 (the values are std base64).
func reencode(t *testing.T, raw []byte, name func(string) string, b64 func([]byte) string) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any) any
	walk = func(x any) any {
		switch x := x.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, val := range x {
				if k == "AttestationProtocolVersion" || k == "Type" {
					out[name(k)] = val
					continue
				}
				out[name(k)] = walk(val)
			}
			return out
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
			return x
		case string:
			if b, err := base64.StdEncoding.DecodeString(x); err == nil {
				return b64(b)
			}
		}
		return x
	}
	out, err := json.Marshal(walk(v))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Member names in any case, and base64 in the four variants, decode to
// the same AttestationInfo.
func TestDecodeVariants(t *testing.T) {
	raw, _ := ag25(t)
	want, err := DecodeAttestationInfo(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		n    func(string) string
		b    func([]byte) string
	}{
		{"lower, raw url", strings.ToLower, base64.RawURLEncoding.EncodeToString},
		{"upper, url padded", strings.ToUpper, base64.URLEncoding.EncodeToString},
		{"as is, raw std", func(s string) string { return s }, base64.RawStdEncoding.EncodeToString},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeAttestationInfo(reencode(t, raw, tc.n, tc.b))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.TcgLogs, want.TcgLogs) || !bytes.Equal(got.TPM.PcrQuote, want.TPM.PcrQuote) || got.OSType != want.OSType ||
				len(got.TPM.PCRs) != len(want.TPM.PCRs) || !bytes.Equal(got.TPM.PCRs[14], want.TPM.PCRs[14]) {
				t.Fatal("decoded differently")
			}
		})
	}
	// Mixed per field: one member url, another std (as the Python client vs
	// the C++ one), in the same document.
	mixed := bytes.Replace(raw, []byte(`"TcgLogs" : "`+base64.StdEncoding.EncodeToString(want.TcgLogs)+`"`),
		[]byte(`"TcgLogs" : "`+base64.RawURLEncoding.EncodeToString(want.TcgLogs)+`"`), 1)
	if bytes.Equal(mixed, raw) {
		t.Fatal("the example's TcgLogs member was not found")
	}
	if got, err := DecodeAttestationInfo(mixed); err != nil || !bytes.Equal(got.TcgLogs, want.TcgLogs) {
		t.Fatalf("mixed encodings: %v", err)
	}
}

func TestDecodeGarbage(t *testing.T) {
	raw, _ := ag25(t)
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	mut := func(f func(m map[string]any)) []byte {
		var c map[string]any
		_ = json.Unmarshal(raw, &c)
		f(c)
		b, _ := json.Marshal(c)
		return b
	}
	tpmInfo := func(m map[string]any) map[string]any { return m["TpmInfo"].(map[string]any) }
	cases := map[string]struct {
		in   []byte
		want string
	}{
		"not json":      {[]byte("AttestationInfo"), "not a JSON object"},
		"array":         {[]byte("[]"), "not a JSON object"},
		"duplicate":     {[]byte(`{"AttestationProtocolVersion":"2.0","attestationprotocolversion":"2.0"}`), "distinct members"},
		"version":       {mut(func(m map[string]any) { m["AttestationProtocolVersion"] = "3.0" }), `"3.0"`},
		"no version":    {mut(func(m map[string]any) { delete(m, "AttestationProtocolVersion") }), "AttestationProtocolVersion"},
		"no TcgLogs":    {mut(func(m map[string]any) { delete(m, "TcgLogs") }), "TcgLogs"},
		"TcgLogs junk":  {mut(func(m map[string]any) { m["TcgLogs"] = "***" }), "TcgLogs is not base64"},
		"OSType number": {mut(func(m map[string]any) { m["OSType"] = 1 }), "OSType must be a string"},
		"major":         {mut(func(m map[string]any) { m["OSVersionMajor"] = "ten" }), "OSVersionMajor"},
		"payload":       {mut(func(m map[string]any) { m["ClientPayload"] = []any{} }), "ClientPayload"},
		"no TpmInfo":    {mut(func(m map[string]any) { delete(m, "TpmInfo") }), "TpmInfo"},
		"TpmInfo str":   {mut(func(m map[string]any) { m["TpmInfo"] = "x" }), "TpmInfo is not a JSON object"},
		"no AikPub":     {mut(func(m map[string]any) { delete(tpmInfo(m), "AikPub") }), "AikPub"},
		"PcrSet":        {mut(func(m map[string]any) { tpmInfo(m)["PcrSet"] = "0-7" }), "PcrSet"},
		"PCRs":          {mut(func(m map[string]any) { tpmInfo(m)["PCRs"] = []any{} }), "PCRs"},
		"PCR index":     {mut(func(m map[string]any) { tpmInfo(m)["PCRs"].([]any)[0].(map[string]any)["Index"] = 40 }), "Index"},
		"PCR twice":     {mut(func(m map[string]any) { tpmInfo(m)["PCRs"].([]any)[1].(map[string]any)["Index"] = 0 }), "PCR 0 twice"},
		"no isolation":  {mut(func(m map[string]any) { delete(m, "IsolationInfo") }), "IsolationInfo"},
		"iso type":      {mut(func(m map[string]any) { m["IsolationInfo"] = map[string]any{"Type": "Vbs"} }), `"Vbs"`},
		"no evidence":   {mut(func(m map[string]any) { m["IsolationInfo"] = map[string]any{"Type": "SevSnp"} }), "Evidence"},
		"no proof": {mut(func(m map[string]any) {
			m["IsolationInfo"] = map[string]any{"Type": "Tdx", "Evidence": map[string]any{"RunTimeData": "AA=="}}
		}), "Proof"},
		"oversized": {make([]byte, MaxInfoBytes+1), "more than"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeAttestationInfo(c.in)
			wantErr(t, err, maaerr.InvalidParameter, ErrMalformed, c.want)
		})
	}
}

// Garbage in each TPM structure is refused by the layer that reads it.
func TestVerifyGarbageLayers(t *testing.T) {
	raw, _ := ag25(t)
	for _, tc := range []struct {
		name string
		f    func(*AttestationInfo)
		code maaerr.Code
		text string
	}{
		{"AikPub", func(i *AttestationInfo) { i.TPM.AikPub = []byte("garbage") }, maaerr.InvalidParameter, "AikPub"},
		{"PcrQuote", func(i *AttestationInfo) { i.TPM.PcrQuote = []byte("garbage") }, maaerr.InvalidParameter, "PcrQuote"},
		{"PcrSignature", func(i *AttestationInfo) { i.TPM.PcrSignature = []byte("garbage") }, maaerr.InvalidQuote, "PcrSignature"},
		{"TcgLogs", func(i *AttestationInfo) { i.TcgLogs = []byte("garbage") }, maaerr.InvalidParameter, "TcgLogs"},
		{"EncKeyPub", func(i *AttestationInfo) { i.TPM.EncKeyPub = []byte("garbage") }, maaerr.InvalidParameter, "EncKeyPub"},
		{"EncKeyCertifyInfo", func(i *AttestationInfo) { i.TPM.EncKeyCertifyInfo = []byte("garbage") }, maaerr.InvalidParameter, "EncKeyCertifyInfo"},
		{"EncKeyCertifyInfoSignature", func(i *AttestationInfo) { i.TPM.EncKeyCertifyInfoSignature = []byte("garbage") }, maaerr.InvalidQuote, "EncKeyCertifyInfoSignature"},
		{"AikCert", func(i *AttestationInfo) { i.TPM.AikCert = []byte("garbage") }, maaerr.InvalidParameter, "AikCert"},
		{"SNP proof", func(i *AttestationInfo) {
			i.Isolation = Isolation{Type: SevSnp, Proof: []byte("garbage"), RunTimeData: []byte("{}")}
		}, maaerr.InvalidParameter, "Proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := DecodeAttestationInfo(raw)
			if err != nil {
				t.Fatal(err)
			}
			tc.f(info)
			v := New(Options{SNP: snpVerifier(t, pinTrustee)})
			_, err = v.VerifyInfo(ctx, info, nil)
			wantErr(t, err, tc.code, nil, tc.text)
		})
	}
}
