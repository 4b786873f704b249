package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
	"github.com/spf13/cobra"

	"github.com/maat-attest/maat/internal/evidence/azureguest"
	"github.com/maat-attest/maat/internal/evidence/azureguest/guestclient"
	"github.com/maat-attest/maat/internal/evidence/hcl"
	"github.com/maat-attest/maat/internal/evidence/tpm/tpmclient"
	"github.com/maat-attest/maat/sdk/azattest"
)

// newAttestAzureGuestCommand runs Azure guest attestation (/attest/AzureGuest)
// from an Azure confidential or Trusted Launch VM's vTPM, or from the
// built-in TPM simulator as a Trusted Launch guest.
func newAttestAzureGuestCommand() *cobra.Command {
	var conn clientConn
	var device, pcrList, logFile, isolation, vcekFile, tdQuoteFile, output, saveInfo, simData, imdsURL string
	var payload []string
	var useSim bool
	cmd := &cobra.Command{
		Use:   "azureguest",
		Short: "Attest an Azure confidential or Trusted Launch VM (/attest/AzureGuest) from its vTPM or the simulator",
		Long: `Run Azure guest attestation against an endpoint (MAA or Maat), as Microsoft's
guest-attestation library does: read the vTPM's AK (0x81000003), its certificate
(NV 0x01C101D0) and the HCL report (NV 0x01400001), create an ephemeral EncKey
under PolicyPCR of the quoted PCRs, certify it with the AK, quote the PCRs
(SHA-256 bank), send the TCG log, then unseal the answer with the EncKey in the
TPM and print the claims of the token after validating it against the
endpoint's /certs.

On a confidential VM the HCL report names the isolation type. SEV-SNP needs the
VCEK chain of the chip and TDX the TD quote of the HCL report's TDREPORT: both
come from the host through Azure's Instance Metadata Service (--imds-url:
THIM's /metadata/THIM/amd/certification, and /acc/tdquote), unless given as
files (--vcek-chain, PEM VCEK, ASK, ARK; --td-quote). Without an HCL report the
VM is attested as Trusted Launch, whose AK certificate must chain to the
server's azure-vtpm-ak-roots.

--simulator uses the in-process TPM 2.0 simulator, provisioned as an Azure vTPM
(AK persisted at 0x81000003, its certificate and any HCL report in NV) and read
back by the same code as a real VM's, as a Trusted Launch guest that boots a
synthetic UEFI log (Secure Boot on); its AK is certified by Maat's
development AIK CA, which only ` + "`maat serve --dev`" + ` trusts (the token says
x-maat-azurevm-akcert-root). With --isolation SevSnp (or Tdx) it is a simulated
SEV-SNP (or TDX) confidential VM instead: a synthetic HCL report wraps an SNP report
(or a TDREPORT, sent with its TD quote) signed by the development PKI of --data (as
` + "`maat simulate sevsnp`" + ` or ` + "`maat simulate tdx`" + `) whose report data binds
runtime claims naming the simulator's AK as HCLAkPub; only a server with --dev and
--dev-trust-simulated-evidence on that data directory accepts it, and its tokens
carry x-maat-simulated-evidence: true. Built in only with ` + "`-tags simulator`" + `.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			pcrs, err := parsePCRList(pcrList)
			if err != nil {
				return err
			}
			in := guestclient.Input{PCRs: pcrs, OSType: "Linux", OSDistro: "Linux", OSBuild: "NotApplication",
				ClientPayload: map[string]string{}}
			for _, kv := range payload {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("--payload %q: want key=value", kv)
				}
				in.ClientPayload[k] = v
			}
			var tp transport.TPM
			if useSim {
				sim, err := openSimulator()
				if err != nil {
					return fmt.Errorf("TPM simulator: %w", err)
				}
				defer sim.Close()
				tp = transport.FromReadWriter(sim)
				boot := tpmclient.SimulatedBootLog(100)
				if err := boot.ExtendPCRs(tp); err != nil {
					return err
				}
				in.TCGLog = boot.Bytes()
				ak, akPub, err := tpmclient.CreateAIK(tp, tpmclient.RSAAIKTemplate())
				if err != nil {
					return err
				}
				akCert, err := certifySimulatedAIK(akPub)
				if err != nil {
					return err
				}
				report, chainOrQuote, err := simulatedHCL(isolation, simData, akPub)
				if err != nil {
					return err
				}
				// The simulator is provisioned as an Azure vTPM, then read
				// back by the same code as a real VM's.
				if err := provisionAzureVTPM(tp, ak, akCert, report); err != nil {
					return err
				}
				chain := func() ([]byte, error) { return chainOrQuote, nil }
				quote := func([]byte) ([]byte, error) { return chainOrQuote, nil }
				if err := readAzureVTPM(tp, &in, isolation, chain, quote); err != nil {
					return err
				}
			} else {
				dev, err := linuxtpm.Open(device)
				if err != nil {
					return fmt.Errorf("TPM device %s: %w", device, err)
				}
				defer dev.Close()
				tp = dev
				if in.TCGLog, err = readFile(nil, logFile, 16<<20); err != nil {
					return fmt.Errorf("TCG log: %w", err)
				}
				chain, quote := hostEvidence(cmd.Context(), imdsURL, vcekFile, tdQuoteFile)
				if err := readAzureVTPM(tp, &in, isolation, chain, quote); err != nil {
					return err
				}
			}
			ev, err := guestclient.Collect(tp, in)
			if err != nil {
				return err
			}
			defer tpm2.FlushContext{FlushHandle: ev.EncKey.Handle}.Execute(tp)
			if saveInfo != "" {
				if err := os.WriteFile(saveInfo, ev.AttestationInfo, 0o600); err != nil {
					return fmt.Errorf("--save-info: %w", err)
				}
			}
			if !cmd.Flags().Changed("api-version") {
				conn.apiVersion = string(azattest.ServiceVersion2025_06_01)
			}
			client, err := conn.client(cmd)
			if err != nil {
				return err
			}
			dec := guestclient.TPMDecrypter{TPM: tp, Key: ev.EncKey, Pub: ev.EncKeyPublic, PCRs: ev.PCRs}
			res, err := client.AttestAzureGuest(cmd.Context(), base64.RawURLEncoding.EncodeToString(ev.AttestationInfo), &azattest.AttestAzureGuestOptions{Decrypter: dec})
			if err != nil {
				return err
			}
			return printAttestResult(cmd, output, res.Result.Token, res.Result.RawClaims)
		},
	}
	conn.addFlags(cmd, false)
	addOutputFlag(cmd, &output)
	f := cmd.Flags()
	f.StringVar(&device, "device", "/dev/tpmrm0", "TPM device (the VM's vTPM)")
	f.BoolVar(&useSim, "simulator", false, "use the built-in TPM 2.0 simulator as a Trusted Launch guest (or, with --isolation SevSnp or Tdx, a simulated SEV-SNP or TDX CVM)")
	f.StringVar(&simData, "data", "./maat-data", "with --simulator --isolation SevSnp|Tdx: data directory of the server (holds the development PKI that signs the simulated HCL report)")
	f.StringVar(&pcrList, "pcrs", "0-7", "PCRs to quote (Azure's Linux clients quote 0-7; Windows adds 11-14)")
	f.StringVar(&logFile, "log", defaultEventLog, "TCG event log (device only)")
	f.StringVar(&isolation, "isolation", "auto", "auto (from the HCL report), SevSnp, Tdx or TrustedLaunch")
	f.StringVar(&vcekFile, "vcek-chain", "", "SEV-SNP: PEM chain VCEK, ASK, ARK of this VM's chip (default: from IMDS's THIM endpoint)")
	f.StringVar(&tdQuoteFile, "td-quote", "", "TDX: the TD quote of the HCL report's TDREPORT (default: from IMDS's /acc/tdquote)")
	f.StringVar(&imdsURL, "imds-url", defaultIMDS, "Azure Instance Metadata Service base URL, asked for the VCEK chain or TD quote when --vcek-chain / --td-quote are not given (empty: never)")
	f.StringVar(&saveInfo, "save-info", "", "also write the AttestationInfo JSON sent to this file (for maat bench attest --type azureguest)")
	f.StringSliceVar(&payload, "payload", nil, "client payload key=value, echoed in x-ms-runtime.client-payload (repeatable)")
	return cmd
}

// readAzureVTPM fills in what an Azure VM's vTPM holds: the AK at its
// persistent handle, the AK certificate and the HCL report from their NV
// indices (the report only for a CVM), as Microsoft's guest-attestation
// library reads them.
func readAzureVTPM(tp transport.TPM, in *guestclient.Input, isolation string, vcekChain func() ([]byte, error), tdQuote func(tdreport []byte) ([]byte, error)) error {
	akName, err := tpm2.ReadPublic{ObjectHandle: tpm2.TPMHandle(guestclient.AzureAKHandle)}.Execute(tp)
	if err != nil {
		return fmt.Errorf("the vTPM has no AK at 0x%08x (not an Azure VM?): %w", guestclient.AzureAKHandle, err)
	}
	in.AK = tpm2.AuthHandle{Handle: tpm2.TPMHandle(guestclient.AzureAKHandle), Name: akName.Name, Auth: tpm2.PasswordAuth(nil)}
	in.AKCert, _ = readNV(tp, guestclient.AzureAKCertIndex)
	in.Isolation, err = guestIsolation(tp, isolation, vcekChain, tdQuote)
	return err
}

// hostEvidence returns the readers of the VCEK chain and the TD quote of a
// VM: the files when given, else IMDS at imdsURL (unless it is empty).
func hostEvidence(ctx context.Context, imdsURL, vcekFile, tdQuoteFile string) (func() ([]byte, error), func([]byte) ([]byte, error)) {
	chain := fileReader("--vcek-chain", vcekFile)
	quote := func([]byte) ([]byte, error) { return fileReader("--td-quote", tdQuoteFile)() }
	if imdsURL == "" {
		return chain, quote
	}
	m := newIMDS(imdsURL)
	if vcekFile == "" {
		chain = func() ([]byte, error) {
			b, err := m.vcekChain(ctx)
			if err != nil {
				return nil, fmt.Errorf("the VCEK chain: %w (or pass --vcek-chain)", err)
			}
			return b, nil
		}
	}
	if tdQuoteFile == "" {
		quote = func(td []byte) ([]byte, error) {
			q, err := m.tdQuote(ctx, td)
			if err != nil {
				return nil, fmt.Errorf("the TD quote: %w (or pass --td-quote)", err)
			}
			return q, nil
		}
	}
	return chain, quote
}

// fileReader reads the file of flag, or returns nil for no file.
func fileReader(flag, path string) func() ([]byte, error) {
	return func() ([]byte, error) {
		if path == "" {
			return nil, nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		return b, nil
	}
}

// guestIsolation reads the HCL report and builds the isolation evidence.
func guestIsolation(tp transport.TPM, kind string, vcekChain func() ([]byte, error), tdQuote func(tdreport []byte) ([]byte, error)) (azureguest.Isolation, error) {
	if strings.EqualFold(kind, string(azureguest.TrustedLaunch)) {
		return azureguest.Isolation{Type: azureguest.TrustedLaunch}, nil
	}
	raw, err := readNV(tp, guestclient.AzureHCLNVIndex)
	if err != nil {
		if strings.EqualFold(kind, "auto") {
			return azureguest.Isolation{Type: azureguest.TrustedLaunch}, nil
		}
		return azureguest.Isolation{}, fmt.Errorf("reading the HCL report (NV 0x%08x): %w", guestclient.AzureHCLNVIndex, err)
	}
	r, err := hcl.Parse(raw)
	if err != nil {
		return azureguest.Isolation{}, err
	}
	switch r.ReportType {
	case hcl.ReportTypeSNP:
		chain, err := vcekChain()
		if err != nil {
			return azureguest.Isolation{}, err
		}
		if chain == nil {
			return azureguest.Isolation{}, errors.New("an SEV-SNP VM needs its VCEK chain: --vcek-chain (PEM VCEK, ASK, ARK), or --imds-url on Azure")
		}
		return guestclient.SNPIsolation(r, chain)
	case hcl.ReportTypeTDX:
		td, err := r.TDReport()
		if err != nil {
			return azureguest.Isolation{}, err
		}
		q, err := tdQuote(td)
		if err != nil {
			return azureguest.Isolation{}, err
		}
		if q == nil {
			return azureguest.Isolation{}, errors.New("a TDX VM needs the TD quote of its HCL report's TDREPORT: --td-quote, or --imds-url on Azure")
		}
		return guestclient.TDXIsolation(r, q)
	}
	return azureguest.Isolation{}, fmt.Errorf("HCL report type %v carries no isolation evidence", r.ReportType)
}

// readNV reads a whole NV index with owner authorization, in chunks the
// TPM accepts.
func readNV(tp transport.TPM, index uint32) ([]byte, error) {
	h := tpm2.TPMHandle(index)
	pub, err := tpm2.NVReadPublic{NVIndex: h}.Execute(tp)
	if err != nil {
		return nil, err
	}
	area, err := pub.NVPublic.Contents()
	if err != nil {
		return nil, err
	}
	var out []byte
	const chunk = 512
	for off := 0; off < int(area.DataSize); off += chunk {
		n := min(chunk, int(area.DataSize)-off)
		r, err := tpm2.NVRead{
			AuthHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
			NVIndex:    tpm2.NamedHandle{Handle: h, Name: pub.NVName},
			Size:       uint16(n), Offset: uint16(off),
		}.Execute(tp)
		if err != nil {
			return nil, err
		}
		out = append(out, r.Data.Buffer...)
	}
	return out, nil
}
