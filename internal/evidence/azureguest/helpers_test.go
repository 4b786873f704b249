package azureguest

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence/hcl"
	"github.com/maat-attest/maat/internal/evidence/sevsnp"
	"github.com/maat-attest/maat/internal/evidence/tdx"
	"github.com/maat-attest/maat/internal/evidence/tpm/tpmclient"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/testsupport/tdxvectors"
)

// Pins (testdata/README.md): both trustee sets at 2025-06-01.
var (
	pinTrustee = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	pinAG25    = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
)

func readTD(tb testing.TB, name ...string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, name...)...))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func snpVerifier(tb testing.TB, at time.Time) *sevsnp.Verifier {
	tb.Helper()
	o := sevsnp.DefaultOptions()
	o.Now = func() time.Time { return at }
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	v, err := sevsnp.NewVerifier(o)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func tdxVerifier(tb testing.TB, at time.Time) *tdx.EvidenceVerifier {
	tb.Helper()
	o := tdx.DefaultOptions()
	o.DCAP.Now = func() time.Time { return at }
	o.DCAP.Collateral = collateral.Dir{FS: tdxvectors.MustFS("azure_dcesv5")}
	v, err := tdx.NewVerifier(o)
	if err != nil {
		tb.Fatal(err)
	}
	return tdx.NewEvidenceVerifier(v, nil)
}

// vtpmQuote is trustee's tpm-quote-v1.json: a vTPM quote over SHA-256
// PCRs 0-23 signed by the HCLAkPub of the same VM.
type vtpmQuote struct {
	msg, sig []byte
	pcrs     map[int][]byte
	set      []int
}

func loadQuote(tb testing.TB, name ...string) vtpmQuote {
	tb.Helper()
	var j struct {
		Signature, Message string
		Pcrs               []string
	}
	if err := json.Unmarshal(readTD(tb, name...), &j); err != nil {
		tb.Fatal(err)
	}
	q := vtpmQuote{pcrs: map[int][]byte{}}
	var err error
	if q.msg, err = hex.DecodeString(j.Message); err != nil {
		tb.Fatal(err)
	}
	if q.sig, err = hex.DecodeString(j.Signature); err != nil {
		tb.Fatal(err)
	}
	for i, p := range j.Pcrs {
		if q.pcrs[i], err = hex.DecodeString(p); err != nil {
			tb.Fatal(err)
		}
		q.set = append(q.set, i)
	}
	return q
}

// akArea wraps an RSA key in the TPMT_PUBLIC of an Azure vTPM AK (the
// trustee sets carry HCLAkPub as a JWK only, not the TPM2B_PUBLIC a client
// would send as AikPub).
func akArea(k *rsa.PublicKey) *tpm2.TPMTPublic {
	a := tpmclient.RSAAIKTemplate()
	a.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{Buffer: k.N.Bytes()})
	return &a
}

// cvmSet is one trustee chain: HCL runtime claims, isolation evidence, the
// vTPM quote and the AK it verifies with.
type cvmSet struct {
	iso   Isolation
	ak    *rsa.PublicKey
	quote vtpmQuote
	hcl   []byte
}

func snpSet(tb testing.TB) cvmSet {
	tb.Helper()
	raw := readTD(tb, "snp", "hcl-report.bin")
	r, err := hcl.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	rep, _ := r.SNPReport()
	return cvmSet{iso: Isolation{Type: SevSnp, Proof: snpProof(rep, readTD(tb, "snp", "vcek.pem")), RunTimeData: r.Claims},
		ak: hclAK(tb, r.Claims), quote: loadQuote(tb, "snp", "tpm-quote-v1.json"), hcl: raw}
}

// snpProof is the Proof the C++ client sends: std base64 of the JSON
// {"SnpReport": base64url, "VcekCertChain": base64}.
func snpProof(report, chain []byte) []byte {
	j, _ := json.Marshal(map[string]string{"SnpReport": base64.RawURLEncoding.EncodeToString(report), "VcekCertChain": base64.StdEncoding.EncodeToString(chain)})
	return j
}

func tdxSet(tb testing.TB) cvmSet {
	tb.Helper()
	raw, err := tdxvectors.Read("azure_dcesv5", "hcl-report.bin")
	if err != nil {
		tb.Fatal(err)
	}
	quote, err := tdxvectors.Read("azure_dcesv5", "quote.bin")
	if err != nil {
		tb.Fatal(err)
	}
	r, err := hcl.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return cvmSet{iso: Isolation{Type: Tdx, Proof: quote, RunTimeData: r.Claims}, ak: hclAK(tb, r.Claims), quote: loadQuote(tb, "tdx", "tpm-quote-v1.json"), hcl: raw}
}

func hclAK(tb testing.TB, claims []byte) *rsa.PublicKey {
	tb.Helper()
	c, err := hcl.ParseRuntimeClaims(claims)
	if err != nil {
		tb.Fatal(err)
	}
	k, ok := c.Key(hcl.KidAkPub)
	if !ok {
		tb.Fatal("no HCLAkPub")
	}
	pub, err := k.RSAPublicKey()
	if err != nil {
		tb.Fatal(err)
	}
	return pub
}

// wantErr checks a *maaerr.Error's code, cause and message.
func wantErr(tb testing.TB, err error, code maaerr.Code, cause error, text string) {
	tb.Helper()
	e := maaerr.As(err)
	if e == nil || e.Code != code || (cause != nil && !errors.Is(err, cause)) || !strings.Contains(e.Message, text) {
		tb.Fatalf("got %v; want %s wrapping %v with %q", err, code, cause, text)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

var ctx = context.Background()
