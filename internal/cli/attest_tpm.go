package cli

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
	"github.com/spf13/cobra"

	"github.com/maat-attest/maat/internal/evidence/tpm/tpmclient"
	"github.com/maat-attest/maat/sdk/azattest"
)

// defaultEventLog is where Linux exposes the firmware's TCG event log.
const defaultEventLog = "/sys/kernel/security/tpm0/binary_bios_measurements"

// newAttestTPMCommand drives MAA's TPM protocol (/attest/Tpm) from a TPM
// device or the built-in TPM 2.0 simulator: Init → Challenge, then a quote
// by a fresh AIK over the challenge-bound request key → Report.
func newAttestTPMCommand() *cobra.Command {
	var conn clientConn
	var device, pcrList, rpID, rpDataFile, aikCertFile, output string
	var logs []string
	var useSim, noDevAIKCert bool
	cmd := &cobra.Command{
		Use:   "tpm",
		Short: "Attest a TPM 2.0 (/attest/Tpm) from a device or the built-in simulator",
		Long: `Run MAA's TPM attestation protocol against an endpoint: send Init, take the
challenge, create an attestation key (AIK) in the TPM, quote the selected PCRs
(SHA-256 bank) bound to a fresh request key, send the TCG event log(s), and
print the claims of the report token after validating it against the
endpoint's /certs.

--device defaults to /dev/tpmrm0 with the firmware log ` + defaultEventLog + `.
--simulator uses an in-process TPM 2.0 simulator that "boots" a synthetic UEFI +
Windows boot log (Secure Boot on, 100 events) into its PCRs and sends that log,
for trying a server and its policies without TPM hardware. Its AIK is
certified by Maat's development AIK CA, which only ` + "`maat serve --dev`" + ` trusts
(the token then says x-maat-tpm-aik-root: "Maat development TPM AIK CA ...").
Against any other server the AIK does not validate: that server's policy must
accept it with configurationrules { => issueproperty(type="require_valid_aik_cert",
value=false); }. The simulator is built in only with ` + "`-tags simulator`" + ` (cgo +
OpenSSL); other binaries say how to get it.

A device AIK has no certificate unless --aik-cert is given. All 24 PCRs are
quoted unless --pcrs narrows the selection (MAA's default policy needs all 24).`,
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
			var tp transport.TPM
			var simLog []byte
			if useSim {
				sim, err := openSimulator()
				if err != nil {
					return fmt.Errorf("TPM simulator: %w", err)
				}
				defer sim.Close()
				tp = transport.FromReadWriter(sim)
				// A simulated machine boots: a synthetic UEFI + Windows boot
				// log is measured into the PCRs and sent as the event log.
				boot := tpmclient.SimulatedBootLog(100)
				if err := boot.ExtendPCRs(tp); err != nil {
					return err
				}
				simLog = boot.Bytes()
			} else {
				dev, err := linuxtpm.Open(device)
				if err != nil {
					return fmt.Errorf("TPM device %s: %w", device, err)
				}
				defer dev.Close()
				tp = dev
				if !cmd.Flags().Changed("log") {
					logs = []string{defaultEventLog}
				}
			}
			in := tpmclient.Input{TPM: tp, PCRs: pcrs, Banks: []tpm2.TPMAlgID{tpm2.TPMAlgSHA256}, RPID: rpID}
			if simLog != nil && !cmd.Flags().Changed("log") {
				in.Logs = append(in.Logs, simLog)
			}
			for _, l := range logs {
				b, err := readFile(nil, l, 16<<20)
				if err != nil {
					return fmt.Errorf("event log: %w", err)
				}
				in.Logs = append(in.Logs, b)
			}
			if rpDataFile != "" {
				if in.RPData, err = clientReadFile(cmd, rpDataFile); err != nil {
					return err
				}
			}
			if aikCertFile != "" {
				b, err := clientReadFile(cmd, aikCertFile)
				if err != nil {
					return err
				}
				c, err := clientParseCert(b)
				if err != nil {
					return fmt.Errorf("--aik-cert: %w", err)
				}
				in.AIKCert = c.Raw
			}
			if in.AIK, in.AIKPublic, err = tpmclient.CreateAIK(tp, tpmclient.RSAAIKTemplate()); err != nil {
				return err
			}
			if useSim && in.AIKCert == nil && !noDevAIKCert {
				// The simulator has no manufacturer: its AIK gets a
				// certificate from the development AIK CA, which only
				// `maat serve --dev` trusts.
				if in.AIKCert, err = certifySimulatedAIK(in.AIKPublic); err != nil {
					return err
				}
			}
			defer tpm2.FlushContext{FlushHandle: in.AIK.Handle}.Execute(tp)
			if in.RequestKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				return err
			}

			client, err := conn.client(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			challenge, err := client.AttestTPM(ctx, tpmclient.InitMessage(), nil)
			if err != nil {
				return err
			}
			request, err := tpmclient.BuildRequest(in, challenge.Data)
			if err != nil {
				return err
			}
			reply, err := client.AttestTPM(ctx, request, nil)
			if err != nil {
				return err
			}
			var report struct {
				Payload struct {
					Report string `json:"report"`
				} `json:"payload"`
				Report string `json:"report"`
			}
			if err := json.Unmarshal(reply.Data, &report); err != nil {
				return fmt.Errorf("report message: %w", err)
			}
			raw := report.Payload.Report
			if raw == "" {
				raw = report.Report
			}
			if raw == "" {
				return errors.New("the service's answer holds no report")
			}
			tok, err := azattest.ParseToken(raw)
			if err != nil {
				return err
			}
			if _, err := client.ValidateToken(ctx, raw, nil); err != nil {
				return fmt.Errorf("the report token does not validate: %w", err)
			}
			return printAttestResult(cmd, output, tok, tok.RawClaims())
		},
	}
	conn.addFlags(cmd, false)
	addOutputFlag(cmd, &output)
	f := cmd.Flags()
	f.StringVar(&device, "device", "/dev/tpmrm0", "TPM device")
	f.BoolVar(&useSim, "simulator", false, "use the built-in TPM 2.0 simulator instead of a device")
	f.StringVar(&pcrList, "pcrs", "0-23", "PCRs to quote (e.g. 0-7,11,14); MAA's default policy requires all 24 (required_pcr_mask 0xFFFFFF)")
	f.BoolVar(&noDevAIKCert, "no-dev-aik-cert", false, "with --simulator: send the AIK without the development CA's certificate (aikValidated false)")
	f.StringSliceVar(&logs, "log", nil, "TCG event log file(s) in measurement order (device default: "+defaultEventLog+")")
	f.StringVar(&rpID, "rp-id", "", "relying party id (rp_id)")
	f.StringVar(&rpDataFile, "rp-data", "", "file with relying party data (rp_data)")
	f.StringVar(&aikCertFile, "aik-cert", "", "PEM or DER certificate of the AIK (only for a persistent, certified AIK)")
	return cmd
}

// parsePCRList parses "0-7,11,14" into PCR indices 0..23.
func parsePCRList(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b > 23 || a > b {
			return nil, fmt.Errorf("--pcrs %q: want indices 0-23 like 0-7,11", s)
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}
