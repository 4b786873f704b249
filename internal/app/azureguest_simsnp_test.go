//go:build simulator

package app

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/devaik"
	"github.com/maat-attest/maat/internal/evidence/azureguest"
	"github.com/maat-attest/maat/internal/evidence/azureguest/guestclient"
	"github.com/maat-attest/maat/internal/evidence/hcl"
	"github.com/maat-attest/maat/internal/evidence/tpm/tpmclient"
	"github.com/maat-attest/maat/internal/simulate"
	"github.com/maat-attest/maat/sdk/azattest"
)

// simSNPGuestAttest collects AzureGuest evidence from the TPM simulator as a
// simulated SEV-SNP CVM (HCL report from the development PKI of dir, as
// `maat attest azureguest --simulator --isolation SevSnp` builds it) and
// attests it through the SDK.
func simSNPGuestAttest(t *testing.T, c *azattest.Client, dir string, tamper func(*azureguest.Isolation)) (azattest.AttestAzureGuestResponse, error) {
	t.Helper()
	return simCVMAttest(t, c, dir, azureguest.SevSnp, tamper)
}

// simCVMAttest is simSNPGuestAttest for a simulated SevSnp or Tdx CVM (as
// `maat attest azureguest --simulator --isolation SevSnp|Tdx` builds it).
func simCVMAttest(t *testing.T, c *azattest.Client, dir string, kind azureguest.IsolationType, tamper func(*azureguest.Isolation)) (azattest.AttestAzureGuestResponse, error) {
	t.Helper()
	sim, err := simulator.GetWithFixedSeedInsecure(22)
	if err != nil {
		t.Fatal(err)
	}
	// One simulator at a time exists in a process: close it before the
	// next call opens another.
	defer sim.Close()
	tp := transport.FromReadWriter(sim)
	boot := tpmclient.SimulatedBootLog(60)
	if err := boot.ExtendPCRs(tp); err != nil {
		t.Fatal(err)
	}
	ak, akPub, err := tpmclient.CreateAIK(tp, tpmclient.RSAAIKTemplate())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := devaik.Certify(akPub)
	if err != nil {
		t.Fatal(err)
	}
	p, err := simulate.Load(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var iso azureguest.Isolation
	if kind == azureguest.Tdx {
		raw, quote, err := p.AzureTDXHCLReport(akPub.(*rsa.PublicKey), simulate.DefaultTD())
		if err != nil {
			t.Fatal(err)
		}
		r, err := hcl.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if iso, err = guestclient.TDXIsolation(r, quote); err != nil {
			t.Fatal(err)
		}
	} else {
		raw, chain, err := p.AzureHCLReport(akPub.(*rsa.PublicKey), simulate.SNPGuest{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := hcl.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if iso, err = guestclient.SNPIsolation(r, chain); err != nil {
			t.Fatal(err)
		}
	}
	if tamper != nil {
		tamper(&iso)
	}
	ev, err := guestclient.Collect(tp, guestclient.Input{AK: ak, AKCert: cert, TCGLog: boot.Bytes(), OSType: "Linux", OSDistro: "Ubuntu",
		OSBuild: "NotApplication", OSVersionMajor: 22, OSVersionMinor: 4, Isolation: iso})
	if err != nil {
		t.Fatal(err)
	}
	defer tpm2.FlushContext{FlushHandle: ev.EncKey.Handle}.Execute(tp)
	dec := guestclient.TPMDecrypter{TPM: tp, Key: ev.EncKey, Pub: ev.EncKeyPublic, PCRs: ev.PCRs}
	return c.AttestAzureGuest(t.Context(), base64.RawURLEncoding.EncodeToString(ev.AttestationInfo), &azattest.AttestAzureGuestOptions{Decrypter: dec})
}

func simSNPGuestClient(t *testing.T, dev, trust bool, mods ...func(*config.Config)) (*azattest.Client, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Dev = dev
	cfg.DevTrustSimulatedEvidence = trust
	for _, m := range mods {
		m(&cfg)
	}
	if !dev {
		// Production: plain HTTP without authentication (no generated
		// certificate without --dev).
		cfg.HTTPSAddr, cfg.AuthDisabled = "", true
		r := start(t, cfg)
		c, err := azattest.NewClient(r.app.Issuer(), nil, &azattest.ClientOptions{ServiceVersion: azattest.ServiceVersion2025_06_01})
		if err != nil {
			t.Fatal(err)
		}
		return c, dir
	}
	r := start(t, cfg)
	o := sdkOptions(t, r, dir)
	o.ServiceVersion = azattest.ServiceVersion2025_06_01
	c, err := azattest.NewClient("https://"+r.app.HTTPSAddr(), nil, o)
	if err != nil {
		t.Fatal(err)
	}
	return c, dir
}

// A simulated SEV-SNP Azure CVM (TPM simulator + synthetic HCL report)
// attests through the SDK on a --dev server that trusts simulated evidence:
// the token is a SevSnp azurevm token, marked simulated at the top and in
// x-ms-isolation-tee, with the HCL runtime claims (HCLAkPub = the
// simulator's AK) and the VM id. Runtime claims that are not the ones
// REPORT_DATA binds are refused.
func TestAzureGuestSimulatedSevSnpSDK(t *testing.T) {
	c, dir := simSNPGuestClient(t, true, true)
	res, err := simSNPGuestAttest(t, c, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := res.Result.RawClaims
	if cl["x-ms-attestation-type"] != "azurevm" ||
		cl[azureguest.ClaimIsolationType] != "SevSnp" || cl[simulate.ClaimSimulated] != true || cl[azureguest.ClaimVMID] != simulate.AzureVMUniqueID {
		t.Fatalf("claims %v", cl)
	}
	tee, _ := cl[azureguest.ClaimIsolationTEE].(map[string]any)
	if tee["x-ms-attestation-type"] != "sevsnpvm" || tee[simulate.ClaimSimulated] != true || tee["x-ms-sevsnpvm-vmpl"] != float64(0) {
		t.Fatalf("x-ms-isolation-tee %v", tee)
	}
	rt, _ := tee["x-ms-runtime"].(map[string]any)
	keys, _ := rt["keys"].([]any)
	if len(keys) != 1 || keys[0].(map[string]any)["kid"] != hcl.KidAkPub {
		t.Fatalf("runtime claims %v", rt)
	}

	// The runtime claims changed after the report was signed: not bound.
	_, err = simSNPGuestAttest(t, c, dir, func(iso *azureguest.Isolation) {
		iso.RunTimeData = []byte(strings.Replace(string(iso.RunTimeData), `"console-enabled":true`, `"console-enabled":false`, 1))
	})
	if st, code := httpErrorCode(err); st != 400 || code != "InvalidQuote" || !strings.Contains(err.Error(), "not bound") {
		t.Fatalf("tampered runtime claims: %d %s %v", st, code, err)
	}
}

// Without --dev, or without the trust flag, the simulated CVM is refused at
// its SNP report's root.
func TestAzureGuestSimulatedSevSnpRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		dev, trust bool
	}{{"production with the trust flag", false, true}, {"dev without the flag", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			c, dir := simSNPGuestClient(t, tc.dev, tc.trust)
			_, err := simSNPGuestAttest(t, c, dir, nil)
			if st, code := httpErrorCode(err); st != 400 || code != "InvalidQuote" || !strings.Contains(err.Error(), "pinned ARK-Milan") {
				t.Fatalf("%d %s: %v", st, code, err)
			}
		})
	}
}

// A simulated TDX Azure CVM (TPM simulator + synthetic HCL report with a
// TDREPORT, and its simulated TD quote) attests through the SDK on a --dev
// server that trusts simulated evidence: the token is a Tdx azurevm token,
// marked simulated at the top and in x-ms-isolation-tee (a tdxvm claim
// set), with the HCL runtime claims and the VM id. Runtime claims that are
// not the ones REPORTDATA binds, and a tampered TD quote, are refused.
func TestAzureGuestSimulatedTdxSDK(t *testing.T) {
	c, dir := simSNPGuestClient(t, true, true)
	res, err := simCVMAttest(t, c, dir, azureguest.Tdx, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := res.Result.RawClaims
	if cl["x-ms-attestation-type"] != "azurevm" ||
		cl[azureguest.ClaimIsolationType] != "Tdx" || cl[simulate.ClaimSimulated] != true || cl[azureguest.ClaimVMID] != simulate.AzureVMUniqueID {
		t.Fatalf("claims %v", cl)
	}
	tee, _ := cl[azureguest.ClaimIsolationTEE].(map[string]any)
	if tee["x-ms-attestation-type"] != "tdxvm" || tee[simulate.ClaimSimulated] != true || tee["attester_tcb_status"] != "UpToDate" || tee["dbgstat"] != "disabled" {
		t.Fatalf("x-ms-isolation-tee %v", tee)
	}
	rt, _ := tee["x-ms-runtime"].(map[string]any)
	keys, _ := rt["keys"].([]any)
	if len(keys) != 1 || keys[0].(map[string]any)["kid"] != hcl.KidAkPub {
		t.Fatalf("runtime claims %v", rt)
	}
	if _, ok := tee["x-ms-compliance-status"]; ok {
		t.Fatalf("compliance status issued without tdx-compliant-*: %v", tee)
	}

	_, err = simCVMAttest(t, c, dir, azureguest.Tdx, func(iso *azureguest.Isolation) {
		iso.RunTimeData = []byte(strings.Replace(string(iso.RunTimeData), `"console-enabled":true`, `"console-enabled":false`, 1))
	})
	if st, code := httpErrorCode(err); st != 400 || code != "InvalidQuote" || !strings.Contains(err.Error(), "not bound") {
		t.Fatalf("tampered runtime claims: %d %s %v", st, code, err)
	}
	_, err = simCVMAttest(t, c, dir, azureguest.Tdx, func(iso *azureguest.Isolation) {
		iso.Proof[48+136] ^= 1 // MRTD
	})
	if st, code := httpErrorCode(err); st != 400 || code != "InvalidQuote" || !strings.Contains(err.Error(), "quote signature") {
		t.Fatalf("tampered TD quote: %d %s %v", st, code, err)
	}
}

// D6 through the guest protocol: a server whose tdx-compliant-mrtd lists
// the simulated TD's MRTD says azure-compliant-cvm in x-ms-isolation-tee,
// where MAA's Azure CVM tokens carry it.
func TestAzureGuestSimulatedTdxCompliance(t *testing.T) {
	mrtd := simulate.DefaultTD().MRTD
	c, dir := simSNPGuestClient(t, true, true, func(cfg *config.Config) {
		cfg.TDXCompliantMRTD = []string{hex.EncodeToString(mrtd[:])}
	})
	res, err := simCVMAttest(t, c, dir, azureguest.Tdx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tee, _ := res.Result.RawClaims[azureguest.ClaimIsolationTEE].(map[string]any)
	if tee["x-ms-compliance-status"] != "azure-compliant-cvm" || tee["tdx_mrtd"] != hex.EncodeToString(mrtd[:]) {
		t.Fatalf("x-ms-isolation-tee %v", tee)
	}
}

// Without --dev, or without the trust flag, the simulated TDX CVM is
// refused at its TD quote's root.
func TestAzureGuestSimulatedTdxRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		dev, trust bool
	}{{"production with the trust flag", false, true}, {"dev without the flag", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			c, dir := simSNPGuestClient(t, tc.dev, tc.trust)
			_, err := simCVMAttest(t, c, dir, azureguest.Tdx, nil)
			if st, code := httpErrorCode(err); st != 400 || code != "InvalidQuote" || !strings.Contains(err.Error(), "is not a trusted root") {
				t.Fatalf("%d %s: %v", st, code, err)
			}
		})
	}
}
