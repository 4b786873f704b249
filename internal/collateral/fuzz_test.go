package collateral

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/maat-attest/maat/internal/jsonstrict"
)

func jsonSeeds(f *testing.F, member string) {
	if member == "tcbInfo" {
		f.Add(read(f, "dcapqvl", "tcb_info.json"))
		var raw map[string]string
		json.Unmarshal(read(f, "pcs2025raw", "sgx_tcb_info_00906ED50000.json"), &raw)
		f.Add([]byte(raw["tcb_info_json"]))
	} else {
		f.Add(read(f, "dcapqvl", "qe_identity.json"))
		var raw map[string]string
		json.Unmarshal(read(f, "pcs2025raw", "sgx_qe_identity.json"), &raw)
		f.Add([]byte(raw["enclave_identity_json"]))
	}
}

func FuzzParseTCBInfo(f *testing.F) {
	jsonSeeds(f, "tcbInfo")
	f.Fuzz(func(t *testing.T, b []byte) {
		ti, err := ParseTCBInfo(b)
		if err != nil {
			return
		}
		if len(ti.Levels) == 0 || (ti.Version != 2 && ti.Version != 3) {
			t.Fatal("accepted an invalid TCB Info")
		}
	})
}

func FuzzParseEnclaveIdentity(f *testing.F) {
	jsonSeeds(f, "enclaveIdentity")
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEnclaveIdentity(b)
		if err != nil {
			return
		}
		if len(e.Levels) == 0 || e.Version != 2 {
			t.Fatal("accepted an invalid identity")
		}
	})
}

func FuzzCRLToDER(f *testing.F) {
	f.Add(read(f, "dcapqvl", "root_ca_crl.der"))
	f.Add(read(f, "dcapqvl", "pck_crl.der"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := CRLToDER(b)
		if err == nil && len(d) == 0 {
			t.Fatal("empty DER accepted")
		}
		NewItem(Key{Kind: KindRootCACRL}, b, nil, t0)
	})
}

// FuzzTCBInfoDecoderMatchesJSON holds the one-pass tcbInfo decoder to
// encoding/json: on any body, both accept with equal results, or both
// refuse, or only the one-pass decoder refuses because a member name is
// given twice (encoding/json lets the last one win).
func FuzzTCBInfoDecoderMatchesJSON(f *testing.F) {
	jsonSeeds(f, "tcbInfo")
	f.Add([]byte(`{"tcbInfo":{"version":2,"tcbLevels":[{"tcb":{"SGXTCBCOMP01SVN":1,"pcesvn":null},"advisoryIDs":null,"tcbStatus":"UpToDate\u0041"}]},"signature":""}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		s, err := splitSigned(doc, "tcbInfo")
		if err != nil {
			return
		}
		var fast, ref jsonTCBInfo
		fastErr := decodeTCBInfoBody(s.Body, &fast)
		refErr := json.Unmarshal(s.Body, &ref)
		var dup *jsonstrict.DuplicateError
		switch {
		case fastErr != nil && refErr == nil:
			if !errors.As(fastErr, &dup) {
				t.Fatalf("one-pass decoder refused what encoding/json accepts: %v", fastErr)
			}
		case fastErr == nil && refErr != nil:
			t.Fatalf("one-pass decoder accepted what encoding/json refuses (%v)", refErr)
		case fastErr == nil:
			for _, tdx := range []bool{false, true} {
				a, aErr := buildTCBInfo(s, &fast, tdx)
				b, bErr := buildTCBInfo(s, &ref, tdx)
				if (aErr == nil) != (bErr == nil) || !reflect.DeepEqual(a, b) {
					t.Fatalf("tdx=%v: one-pass %+v, %v; encoding/json %+v, %v", tdx, a, aErr, b, bErr)
				}
			}
		}
	})
}
