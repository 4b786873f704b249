package azureguest

import (
	"bytes"
	"encoding/base64"
	"testing"
)

func FuzzDecodeAttestationInfo(f *testing.F) {
	// The example with its 67 KB TCG log cut down keeps every member's
	// shape while letting the fuzzer mutate it quickly.
	raw, _ := ag25(f)
	info, err := DecodeAttestationInfo(raw)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bytes.Replace(raw, []byte(base64.StdEncoding.EncodeToString(info.TcgLogs)), []byte("AAAAAAMAAAAAAAAA"), 1))
	f.Add([]byte(`{"AttestationProtocolVersion":"2.0","TcgLogs":"AA","TpmInfo":{"AikPub":"AA","PcrQuote":"AA","PcrSignature":"AA","EncKeyPub":"AA","EncKeyCertifyInfo":"AA","EncKeyCertifyInfoSignature":"AA","PcrSet":[0],"PCRs":[{"Index":0,"Digest":"AA"}]},"IsolationInfo":{"Type":"SevSnp","Evidence":{"Proof":"e30","RunTimeData":"e30"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		info, err := DecodeAttestationInfo(b)
		if !bytes.Equal(in, b) {
			t.Fatal("DecodeAttestationInfo modified its input")
		}
		if err != nil {
			return
		}
		if len(info.TPM.PCRs) == 0 || len(info.TPM.PcrSet) == 0 || info.Isolation.Type == "" {
			t.Fatalf("accepted an incomplete AttestationInfo: %+v", info)
		}
	})
}

func FuzzUnseal(f *testing.F) {
	k := mustKey(f)
	s, _ := Seal(jwt, &k.PublicKey, nil)
	f.Add(s)
	_, tok := ag25(f)
	f.Add(tok)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = Unseal(s, k)
	})
}
