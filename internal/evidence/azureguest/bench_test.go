package azureguest

import (
	"testing"

	"github.com/maat-attest/maat/internal/evidence/hcl"
)

// Benchmarks of the AzureGuest steps on real vectors (see
// docs/PERFORMANCE.md for how to read them next to the other types).

func BenchmarkDecodeAttestationInfoAG25(b *testing.B) {
	raw, _ := ag25(b)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := DecodeAttestationInfo(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyTPMAG25: quote, 67 KB Windows TCG log replay, certified
// EncKey of MAA's example.
func BenchmarkVerifyTPMAG25(b *testing.B) {
	raw, _ := ag25(b)
	info, err := DecodeAttestationInfo(raw)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, _, _, err := VerifyTPM(info); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyIsolationSNP: SNP report signature and VCEK chain (warm
// chain cache), binding and HCLAkPub check of trustee's Azure CVM.
func BenchmarkVerifyIsolationSNP(b *testing.B) {
	s := snpSet(b)
	v := New(Options{SNP: snpVerifier(b, pinTrustee)})
	for b.Loop() {
		if _, err := v.VerifyIsolation(ctx, s.iso, s.ak, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseHCL(b *testing.B) {
	s := snpSet(b)
	for b.Loop() {
		r, err := hcl.Parse(s.hcl)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := hcl.ParseRuntimeClaims(r.Claims); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	k := mustKey(b)
	tok := string(make([]byte, 2896)) // the size of MAA's sealed example JWT
	for b.Loop() {
		if _, err := Seal(tok, &k.PublicKey, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnsealSoftwareKey(b *testing.B) {
	k := mustKey(b)
	s, _ := Seal(string(make([]byte, 2896)), &k.PublicKey, nil)
	for b.Loop() {
		if _, err := Unseal(s, k); err != nil {
			b.Fatal(err)
		}
	}
}
