package sevsnp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/maaerr"
)

func verifyRaw(t *testing.T, v *Verifier, report, chain []byte) error {
	t.Helper()
	_, err := v.Verify(context.Background(), evidenceJSON(report, chain), nil)
	if err != nil {
		if me := maaerr.As(err); me.Code != maaerr.InvalidParameter && me.Code != maaerr.InvalidQuote {
			t.Fatalf("error code %s, want InvalidParameter or InvalidQuote: %v", me.Code, err)
		}
	}
	return err
}

func TestNegative(t *testing.T) {
	milan := tavVector(t, "milan")
	genoa := tavVector(t, "genoa")
	milanVCEK := readTD(t, "tav/milan_vcek.pem")
	milanASK := readTD(t, "tav/milan_ask.pem")
	genoaASK := readTD(t, "tav/genoa_ask.pem")
	v := newTestVerifier(t, pinTAV, nil)

	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 0x01; return c }
	setU32 := func(b []byte, off int, x uint32) []byte {
		c := bytes.Clone(b)
		binary.LittleEndian.PutUint32(c[off:], x)
		return c
	}
	trusteeR, trusteeVCEK := trusteeEvidence(t, "evidence-v0.json")

	for _, c := range []struct {
		name   string
		report []byte
		chain  []byte
		want   error
		code   maaerr.Code
		msg    string
	}{
		{"wrong product's ASK", milan.report, cat(milanVCEK, genoaASK), ErrProductMismatch, maaerr.InvalidQuote, "CPUID says Milan"},
		{"Genoa report, Milan chain", genoa.report, milan.chain, ErrProductMismatch, maaerr.InvalidQuote, "chain is for Milan"},
		{"ARK of another product", milan.report, cat(milanVCEK, milanASK, readTD(t, "tav/pinned_genoa_ark.pem")), ErrUntrustedRoot, maaerr.InvalidQuote, "not AMD's pinned ARK-Milan"},
		{"ASK given twice (as ARK)", milan.report, cat(milanVCEK, milanASK, milanASK), ErrMalformedChain, maaerr.InvalidParameter, "twice"},
		{"byte 100 flipped", flip(milan.report, 100), milan.chain, ErrSignature, maaerr.InvalidQuote, "signature"},
		{"REPORTED_TCB SNP byte changed", flip(milan.report, 0x186), milan.chain, ErrTCBMismatch, maaerr.InvalidQuote, "REPORTED_TCB"},
		{"CHIP_ID changed", flip(milan.report, 0x1A0), milan.chain, ErrChipIDMismatch, maaerr.InvalidQuote, "CHIP_ID"},
		{"another chip's VCEK", milan.report, trusteeVCEK, ErrChipIDMismatch, maaerr.InvalidQuote, ""},
		{"another report's VCEK, same chip family", trusteeR, milanVCEK, nil, maaerr.InvalidQuote, ""},
		{"truncated report", milan.report[:ReportSize-1], milan.chain, ErrMalformedReport, maaerr.InvalidParameter, "1183 bytes"},
		{"report too long", append(bytes.Clone(milan.report), 0), milan.chain, ErrMalformedReport, maaerr.InvalidParameter, "1185 bytes"},
		{"version 0", setU32(milan.report, 0, 0), milan.chain, ErrUnsupportedReport, maaerr.InvalidParameter, "VERSION is 0"},
		{"version 6", setU32(milan.report, 0, 6), milan.chain, ErrUnsupportedReport, maaerr.InvalidParameter, "VERSION is 6"},
		{"signature algo 2", setU32(milan.report, 0x34, 2), milan.chain, ErrUnsupportedReport, maaerr.InvalidParameter, "SIGNATURE_ALGO"},
		{"signing key none", setU32(milan.report, 0x48, 7<<2), milan.chain, ErrUnsupportedReport, maaerr.InvalidParameter, "none"},
		{"signing key 3", setU32(milan.report, 0x48, 3<<2), milan.chain, ErrUnsupportedReport, maaerr.InvalidParameter, "SIGNING_KEY is 3"},
		{"VLEK flag with a VCEK", setU32(milan.report, 0x48, 1<<2), milan.chain, ErrChain, maaerr.InvalidQuote, "signed by its vlek but the chain's leaf is SEV-VCEK"},
		{"unknown CPU family", func() []byte { c := bytes.Clone(milan.report); c[0x188] = 0x17; return c }(), milan.chain, ErrUnsupportedReport, maaerr.InvalidParameter, "CPUID family"},
		{"no chain, no collateral", milan.report, nil, ErrNoVCEK, maaerr.InvalidParameter, "no collateral source"},
		{"ASK only", milan.report, milanASK, ErrNoVCEK, maaerr.InvalidParameter, ""},
		{"not PEM", milan.report, []byte("hello"), ErrMalformedChain, maaerr.InvalidParameter, "PEM"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := verifyRaw(t, v, c.report, c.chain)
			if err == nil {
				t.Fatal("accepted")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("error %v, want %v", err, c.want)
			}
			if me := maaerr.As(err); me.Code != c.code {
				t.Errorf("code %s, want %s (%v)", me.Code, c.code, err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("message %q does not say %q", err, c.msg)
			}
		})
	}
}

// TestASKAsARK: an ASK cannot be made a trust anchor (it is not self-signed).
func TestASKAsARK(t *testing.T) {
	ch, err := ParseChain(readTD(t, "tav/milan_ask.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewRoots(ProductMilan, ch.Intermediate, nil, nil); err == nil {
		t.Fatal("an ASK accepted as ARK")
	}
	// A Milan chain against roots whose ARK is Genoa's: the supplied ASK does
	// not chain.
	g := AMDRoots(ProductGenoa)
	v := newTestVerifier(t, pinTAV, func(o *Options) { o.Roots = map[Product]*Roots{ProductMilan: g} })
	milan := tavVector(t, "milan")
	if err := verifyRaw(t, v, milan.report, milan.chain); !errors.Is(err, ErrUntrustedRoot) {
		t.Fatalf("Genoa ARK as Milan root: %v", err)
	}
}

// TestSuppliedARK: a supplied ARK equal to the pinned one is accepted.
func TestSuppliedARK(t *testing.T) {
	for _, p := range []string{"milan", "genoa", "turin"} {
		vec := tavVector(t, p)
		chain := cat(vec.chain, readTD(t, "tav/pinned_"+p+"_ark.pem"))
		if err := verifyRaw(t, newTestVerifier(t, pinTAV, nil), vec.report, chain); err != nil {
			t.Errorf("%s with its ARK: %v", p, err)
		}
		// The VCEK alone: the embedded ASK completes the chain.
		if err := verifyRaw(t, newTestVerifier(t, pinTAV, nil), vec.report, readTD(t, "tav/"+p+"_vcek.pem")); err != nil {
			t.Errorf("%s VCEK alone: %v", p, err)
		}
	}
}

// TestMutation: every single-byte change in the signed part of a real report
// is rejected. Every byte position gets the changes ^0x01, ^0x80 and ^0xFF
// (Turin: ^0x01); the 16 header bytes (VERSION, GUEST_SVN, POLICY) every one
// of the 255 other values.
func TestMutation(t *testing.T) {
	for _, p := range []string{"milan", "turin"} {
		vec := tavVector(t, p)
		v := newTestVerifier(t, pinTAV, nil)
		r, err := ParseReport(vec.report)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.VerifyReport(context.Background(), r, vec.chain); err != nil {
			t.Fatal(err)
		}
		n := 0
		for i := 0; i < SignedSize; i++ {
			deltas := []byte{0x01, 0x80, 0xFF}
			if p == "turin" || testing.Short() {
				deltas = deltas[:1]
			}
			if i < 16 && p == "milan" && !testing.Short() {
				deltas = deltas[:0]
				for d := 1; d < 256; d++ {
					deltas = append(deltas, byte(d))
				}
			}
			for _, d := range deltas {
				m := bytes.Clone(vec.report)
				m[i] ^= d
				r, err := ParseReport(m)
				if err == nil {
					_, err = v.VerifyReport(context.Background(), r, vec.chain)
				}
				if err == nil {
					t.Fatalf("%s: byte 0x%03x ^ 0x%02x accepted", p, i, d)
				}
				n++
			}
		}
		t.Logf("%s: %d mutations rejected", p, n)
	}
}
