package sevsnp

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/maaerr"
)

func TestDecodeEvidenceEncodings(t *testing.T) {
	vec := tavVector(t, "milan")
	encs := map[string]*base64.Encoding{
		"url padded": base64.URLEncoding, "url raw": base64.RawURLEncoding,
		"std padded": base64.StdEncoding, "std raw": base64.RawStdEncoding,
	}
	v := newTestVerifier(t, pinTAV, nil)
	for name, enc := range encs {
		for _, names := range [][2]string{{"SnpReport", "VcekCertChain"}, {"snpreport", "vcekcertchain"}, {"SNPREPORT", "VcekCERTChain"}} {
			raw := []byte("\n    {\n  \"" + names[0] + "\" : \"" + enc.EncodeToString(vec.report) + "\",\n \"" + names[1] + "\": \"" + enc.EncodeToString(vec.chain) + "\", \"Other\": 5 }\n  ")
			ev, err := DecodeEvidence(raw)
			if err != nil {
				t.Fatalf("%s %v: %v", name, names, err)
			}
			if !bytes.Equal(ev.Report, vec.report) || !bytes.Equal(ev.Chain, vec.chain) {
				t.Fatalf("%s %v: decoded bytes differ", name, names)
			}
			if _, err := v.Verify(context.Background(), raw, nil); err != nil {
				t.Fatalf("%s %v: %v", name, names, err)
			}
		}
	}
	// Line-wrapped base64 (as some tools print it).
	wrapped := base64.StdEncoding.EncodeToString(vec.report)
	var sb strings.Builder
	for i := 0; i < len(wrapped); i += 64 {
		sb.WriteString(wrapped[i:min(i+64, len(wrapped))])
		sb.WriteString(`\n`)
	}
	if _, err := DecodeEvidence([]byte(`{"SnpReport":"` + sb.String() + `"}`)); err != nil {
		t.Fatalf("wrapped: %v", err)
	}
}

func TestDecodeEvidenceErrors(t *testing.T) {
	rep := b64url(make([]byte, ReportSize))
	for _, c := range []struct{ name, raw, msg string }{
		{"not JSON", `SENMQQ`, "JSON object"},
		{"array", `[1]`, "JSON object"},
		{"broken JSON", `{"SnpReport":`, "does not parse"},
		{"trailing data", `{"SnpReport":"` + rep + `"} {}`, "after the object"},
		{"no SnpReport", `{"VcekCertChain":"AAAA"}`, `no "SnpReport"`},
		{"SnpReport not a string", `{"SnpReport":5}`, `"SnpReport" must be a base64 string`},
		{"SnpReport not base64", `{"SnpReport":"***"}`, "SnpReport is not valid base64"},
		{"empty SnpReport", `{"SnpReport":""}`, "SnpReport is empty"},
		{"duplicate", `{"SnpReport":"` + rep + `","snpreport":"` + rep + `"}`, `member "snpreport" twice`},
		{"duplicate chain", `{"SnpReport":"` + rep + `","VcekCertChain":"","VCEKCERTCHAIN":""}`, `"VCEKCERTCHAIN" twice`},
		{"chain not base64", `{"SnpReport":"` + rep + `","VcekCertChain":"%%"}`, "VcekCertChain is not valid base64"},
		{"endorsements not JSON", `{"SnpReport":"` + rep + `","Endorsements":"` + b64url([]byte("x")) + `"}`, "Endorsements must be"},
		{"uvm not array", `{"SnpReport":"` + rep + `","Endorsements":"` + b64url([]byte(`{"Uvm":"x"}`)) + `"}`, "Uvm must be an array"},
		{"uvm duplicate", `{"SnpReport":"` + rep + `","Endorsements":"` + b64url([]byte(`{"Uvm":[],"uvm":[]}`)) + `"}`, `"uvm" twice`},
		{"uvm entry not base64", `{"SnpReport":"` + rep + `","Endorsements":"` + b64url([]byte(`{"Uvm":["%%"]}`)) + `"}`, "Uvm[0] is not valid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeEvidence([]byte(c.raw))
			if !errors.Is(err, ErrMalformedRequest) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("%v, want ErrMalformedRequest saying %q", err, c.msg)
			}
			v := newTestVerifier(t, pinTAV, nil)
			_, err = v.Verify(context.Background(), []byte(c.raw), nil)
			if me := maaerr.As(err); me.Code != maaerr.InvalidParameter || !strings.Contains(me.Message, c.msg) {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
	if _, err := DecodeEvidence(bytes.Repeat([]byte(" "), MaxEvidenceSize+1)); !errors.Is(err, ErrMalformedRequest) {
		t.Fatalf("oversized: %v", err)
	}
	// Endorsements decode (the COSE bytes are checked later).
	ev, err := DecodeEvidence([]byte(`{"SnpReport":"` + rep + `","Endorsements":"` + b64url([]byte(`{"UVM":["`+b64url([]byte{0xd2, 0x84})+`"]}`)) + `"}`))
	if err != nil || len(ev.UVM) != 1 || !bytes.Equal(ev.UVM[0], []byte{0xd2, 0x84}) {
		t.Fatalf("endorsements: %v %v", err, ev)
	}
}
