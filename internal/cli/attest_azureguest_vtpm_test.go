//go:build simulator

package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/maat-attest/maat/internal/evidence/azureguest"
	"github.com/maat-attest/maat/internal/evidence/azureguest/guestclient"
	"github.com/maat-attest/maat/internal/evidence/tpm/tpmclient"
)

// The device path of attest azureguest (persistent AK, AK certificate and
// HCL report read from NV in 512-byte chunks) runs on the simulator
// provisioned as an Azure vTPM, for each isolation type; what it reads back
// is byte for byte what was provisioned, and a vTPM without an AK or
// without the host's VCEK chain / TD quote is refused with the flag to fix.
func TestReadAzureVTPMOnProvisionedSimulator(t *testing.T) {
	data := t.TempDir()
	for _, kind := range []string{"TrustedLaunch", "SevSnp", "Tdx"} {
		t.Run(kind, func(t *testing.T) {
			sim, err := openSimulator()
			if err != nil {
				t.Fatal(err)
			}
			defer sim.Close()
			tp := transport.FromReadWriter(sim)
			var in guestclient.Input
			if err := readAzureVTPM(tp, &in, "auto", nil, nil); err == nil {
				t.Fatal("a vTPM without an AK at 0x81000003 was read")
			}
			ak, akPub, err := tpmclient.CreateAIK(tp, tpmclient.RSAAIKTemplate())
			if err != nil {
				t.Fatal(err)
			}
			akCert, err := certifySimulatedAIK(akPub)
			if err != nil {
				t.Fatal(err)
			}
			report, host, err := simulatedHCL(kind, data, akPub)
			if err != nil {
				t.Fatal(err)
			}
			if kind != "TrustedLaunch" && len(report) <= 512 {
				t.Fatalf("HCL report of %d bytes does not exercise chunked reads", len(report))
			}
			if err := provisionAzureVTPM(tp, ak, akCert, report); err != nil {
				t.Fatal(err)
			}
			if kind != "TrustedLaunch" {
				// No files and IMDS disabled.
				chain, quote := hostEvidence(t.Context(), "", "", "")
				if err := readAzureVTPM(tp, &in, "auto", chain, quote); err == nil || !strings.Contains(err.Error(), "--imds-url") {
					t.Fatalf("a CVM without the VCEK chain / TD quote: %v", err)
				}
			}
			// The host evidence from IMDS, as on an Azure VM: the fake
			// IMDS answers only with the Metadata header, and only the
			// HCL report's own TDREPORT gets the TD quote.
			srv := fakeIMDS(t, host, report)
			chain, quote := hostEvidence(t.Context(), srv.URL, "", "")
			if err := readAzureVTPM(tp, &in, "auto", chain, quote); err != nil {
				t.Fatal(err)
			}
			if in.AK.Handle != tpm2.TPMHandle(guestclient.AzureAKHandle) || !bytes.Equal(in.AKCert, akCert) {
				t.Fatalf("AK %v, certificate read back equal: %v", in.AK.Handle, bytes.Equal(in.AKCert, akCert))
			}
			if got := string(in.Isolation.Type); got != kind {
				t.Fatalf("isolation %q from the HCL report in NV, want %q", got, kind)
			}
			if kind != "TrustedLaunch" {
				nv, err := readNV(tp, guestclient.AzureHCLNVIndex)
				if err != nil || !bytes.Equal(nv, report) {
					t.Fatalf("HCL report read back: %d bytes, equal %v, %v", len(nv), bytes.Equal(nv, report), err)
				}
				if in.Isolation.Type == azureguest.TrustedLaunch || len(in.Isolation.RunTimeData) == 0 {
					t.Fatalf("isolation %+v", in.Isolation)
				}
			}
		})
	}
}
