package collateral

import (
	"encoding/json"
	"testing"
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
