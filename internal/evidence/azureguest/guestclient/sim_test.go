//go:build simulator

package guestclient

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/maat-attest/maat/internal/evidence/azureguest"
	"github.com/maat-attest/maat/internal/evidence/tpm"
	"github.com/maat-attest/maat/internal/evidence/tpm/tpmclient"
	"github.com/maat-attest/maat/internal/maaerr"
)

// The TPM simulator is one process-global instance: every test shares one
// fixture (an AK and a booted PCR state) under a mutex.
var (
	simOnce sync.Once
	simFix  *simFixture
	simErr  error
)

type simFixture struct {
	mu     sync.Mutex
	tpm    transport.TPM
	ak     tpm2.AuthHandle
	akPub  crypto.PublicKey
	log    []byte
	caKey  *ecdsa.PrivateKey
	caCert *x509.Certificate
	akCert []byte
}

var simNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func getSim(tb testing.TB) *simFixture {
	tb.Helper()
	simOnce.Do(func() {
		sim, err := simulator.GetWithFixedSeedInsecure(15)
		if err != nil {
			simErr = err
			return
		}
		f := &simFixture{tpm: transport.FromReadWriter(sim)}
		if f.ak, f.akPub, err = tpmclient.CreateAIK(f.tpm, tpmclient.RSAAIKTemplate()); err != nil {
			simErr = err
			return
		}
		l := tpmclient.SimulatedBootLog(60)
		if err := l.ExtendPCRs(f.tpm); err != nil {
			simErr = err
			return
		}
		f.log = l.Bytes()
		f.caKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Maat test Virtual TPM CA"},
			NotBefore: simNow.Add(-time.Hour), NotAfter: simNow.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &f.caKey.PublicKey, f.caKey)
		f.caCert, _ = x509.ParseCertificate(der)
		leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "test.TrustedVM.Maat"},
			NotBefore: simNow.Add(-time.Hour), NotAfter: simNow.Add(12 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
		f.akCert, _ = x509.CreateCertificate(rand.Reader, leaf, f.caCert, f.akPub, f.caKey)
		simFix = f
	})
	if simErr != nil {
		tb.Fatalf("simulator: %v", simErr)
	}
	return simFix
}

// collect runs the guest side on the simulator; the caller flushes the
// EncKey (the simulator has three object slots).
func (f *simFixture) collect(tb testing.TB, mod func(*Input)) *Evidence {
	tb.Helper()
	in := Input{AK: f.ak, AKCert: f.akCert, TCGLog: f.log, OSType: "Linux", OSDistro: "Ubuntu", OSBuild: "NotApplication",
		OSVersionMajor: 22, OSVersionMinor: 4, ClientPayload: map[string]string{"nonce": "ADE0101"}, Isolation: azureguest.Isolation{Type: azureguest.TrustedLaunch}}
	if mod != nil {
		mod(&in)
	}
	ev, err := Collect(f.tpm, in)
	if err != nil {
		tb.Fatal(err)
	}
	return ev
}

func (f *simFixture) flush(ev *Evidence) {
	_, _ = tpm2.FlushContext{FlushHandle: ev.EncKey.Handle}.Execute(f.tpm)
}

func (f *simFixture) verifier() *azureguest.Verifier {
	return azureguest.New(azureguest.Options{AKRoots: []*x509.Certificate{f.caCert}, Now: func() time.Time { return simNow }})
}

// The whole protocol on a TPM: a Trusted Launch guest collects its
// evidence, the verifier checks every TPM binding and the AK chain,
// produces the claims, seals a token to the EncKey, and only the TPM's
// EncKey under the PCR policy unseals it.
func TestSimulatorEndToEnd(t *testing.T) {
	f := getSim(t)
	f.mu.Lock()
	defer f.mu.Unlock()
	ev := f.collect(t, nil)
	defer f.flush(ev)

	vd, err := f.verifier().Verify(ctx, ev.AttestationInfo, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := vd.Claims
	if vd.AttestationType != "azurevm" || c[azureguest.ClaimSecureBoot] != true || c[azureguest.ClaimAKCertValidated] != true || c["x-ms-azurevm-ostype"] != "Linux" ||
		c["x-ms-azurevm-osversion-major"] != int64(22) || c[azureguest.ClaimIsolationTEE] != nil || c["x-ms-azurevm-dbvalidated"] != true ||
		c["x-ms-azurevm-default-securebootkeysvalidated"] != true || c["x-ms-azurevm-debuggersdisabled"] != true {
		t.Fatalf("claims %v", c)
	}
	keys := c[azureguest.ClaimRuntime].(map[string]any)["keys"].([]any)
	jwk := keys[0].(map[string]any)
	if jwk["n"] != base64.RawURLEncoding.EncodeToString(ev.EncKeyPublic.N.Bytes()) {
		t.Fatal("the EncKey JWK is not the certified EncKey")
	}
	if vd.Seal == nil {
		t.Fatal("no sealer")
	}
	sealed, err := vd.Seal("header.payload.signature")
	if err != nil {
		t.Fatal(err)
	}
	dec := TPMDecrypter{TPM: f.tpm, Key: ev.EncKey, Pub: ev.EncKeyPublic, PCRs: ev.PCRs}
	got, err := azureguest.Unseal(sealed, dec)
	if err != nil || got != "header.payload.signature" {
		t.Fatalf("unseal with the TPM: %q %v", got, err)
	}
	// Without the chain (no roots configured) a Trusted Launch guest is refused.
	_, err = azureguest.New(azureguest.Options{Now: func() time.Time { return simNow }}).Verify(ctx, ev.AttestationInfo, nil)
	wantErr(t, err, maaerr.InvalidQuote, azureguest.ErrAKCert, "no Azure vTPM roots")
	// After the AK certificate expired.
	late := azureguest.New(azureguest.Options{AKRoots: []*x509.Certificate{f.caCert}, Now: func() time.Time { return simNow.Add(13 * time.Hour) }})
	_, err = late.Verify(ctx, ev.AttestationInfo, nil)
	wantErr(t, err, maaerr.InvalidQuote, azureguest.ErrAKCert, "does not chain")
}

// The EncKey refusals on keys the AK really certified.
func TestSimulatorEncKeyRefused(t *testing.T) {
	f := getSim(t)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tc := range []struct {
		name  string
		tmpl  func([]byte) tpm2.TPMTPublic
		cause error
		text  string
	}{
		{"sign attribute", func(p []byte) tpm2.TPMTPublic {
			t := EncKeyTemplate(p)
			t.ObjectAttributes.SignEncrypt = true
			return t
		}, tpm.ErrKeyAttributes, "without sign"},
		{"no PCR policy", func([]byte) tpm2.TPMTPublic { return EncKeyTemplate(nil) }, tpm.ErrKeyPolicy, "authPolicy"},
		{"policy over other PCRs", func([]byte) tpm2.TPMTPublic {
			other, _ := tpm.PolicyPCRDigest(tpm2.TPMAlgSHA256, []int{0}, map[int][]byte{0: make([]byte, 32)})
			return EncKeyTemplate(other)
		}, tpm.ErrKeyPolicy, "PolicyPCR over the quoted PCRs"},
		{"userWithAuth", func(p []byte) tpm2.TPMTPublic {
			t := EncKeyTemplate(p)
			t.ObjectAttributes.UserWithAuth = true
			return t
		}, tpm.ErrKeyAttributes, "userWithAuth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := f.collect(t, func(in *Input) { in.EncKeyTemplate = tc.tmpl })
			defer f.flush(ev)
			_, err := f.verifier().Verify(ctx, ev.AttestationInfo, nil)
			wantErr(t, err, maaerr.InvalidQuote, tc.cause, tc.text)
		})
	}
}

// A TCG log that does not replay names the PCR; wrong PcrSet; PCRs changed
// after the quote make the TPM refuse to unseal.
func TestSimulatorNegative(t *testing.T) {
	f := getSim(t)
	f.mu.Lock()
	defer f.mu.Unlock()
	other := tpmclient.SimulatedBootLog(61).Bytes()
	ev := f.collect(t, func(in *Input) { in.TCGLog = other })
	_, err := f.verifier().Verify(ctx, ev.AttestationInfo, nil)
	f.flush(ev)
	wantErr(t, err, maaerr.InvalidQuote, tpm.ErrLogReplay, "quoted PCR")

	ev = f.collect(t, func(in *Input) { in.PCRs = []int{0, 1, 2, 3, 4, 5, 6, 7, 23} })
	defer f.flush(ev)
	info, err := azureguest.DecodeAttestationInfo(ev.AttestationInfo)
	if err != nil {
		t.Fatal(err)
	}
	info.TPM.PcrSet = []int{0, 1, 2, 3, 4, 5, 6, 7}
	delete(info.TPM.PCRs, 23)
	_, err = f.verifier().VerifyInfo(ctx, info, nil)
	wantErr(t, err, maaerr.InvalidQuote, tpm.ErrPCRSelection, "PcrSet is [0 1 2 3 4 5 6 7]")

	vd, err := f.verifier().Verify(ctx, ev.AttestationInfo, nil)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := vd.Seal("tok")
	if err != nil {
		t.Fatal(err)
	}
	// PCR 23 is resettable, so the shared fixture's state is restored.
	pcr23 := tpm2.AuthHandle{Handle: tpm2.TPMHandle(23), Auth: tpm2.PasswordAuth(nil)}
	defer func() { _, _ = tpm2.PCRReset{PCRHandle: pcr23}.Execute(f.tpm) }()
	if _, err := (tpm2.PCRExtend{PCRHandle: pcr23,
		Digests: tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: make([]byte, 32)}}}}).Execute(f.tpm); err != nil {
		t.Fatal(err)
	}
	dec := TPMDecrypter{TPM: f.tpm, Key: ev.EncKey, Pub: ev.EncKeyPublic, PCRs: ev.PCRs}
	if _, err := azureguest.Unseal(sealed, dec); err == nil {
		t.Fatal("the TPM unsealed after PCR 23 changed")
	}
}

var ctx = context.Background()

func wantErr(tb testing.TB, err error, code maaerr.Code, cause error, text string) {
	tb.Helper()
	e := maaerr.As(err)
	if e == nil || e.Code != code || (cause != nil && !errors.Is(err, cause)) || !strings.Contains(e.Message, text) {
		tb.Fatalf("got %v; want %s wrapping %v with %q", err, code, cause, text)
	}
}
