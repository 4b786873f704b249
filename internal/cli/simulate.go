package cli

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/simulate"
	"github.com/maat-attest/maat/sdk/azattest"
)

// newSimulateCommand returns "simulate sgx|openenclave|sevsnp|tdx|enclave-key":
// evidence signed by the data directory's development PKI, for rehearsing
// secure key release without TEE hardware.
func newSimulateCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "simulate",
		Short: "Simulated TEE evidence (SGX, OpenEnclave, SEV-SNP, TDX) from a development PKI (trusted only by `maat serve --dev --dev-trust-simulated-evidence`)",
		Long: `Simulated SGX quotes, OpenEnclave reports, SEV-SNP reports and TDX TD quotes, signed by a development PKI generated
once per data directory (<data>/` + simulate.DirName + `). Only a server started with --dev and
--dev-trust-simulated-evidence on the same data directory accepts them, and every token it
issues for them carries ` + simulate.ClaimSimulated + `: true. Production servers refuse them.`,
	}
	root.AddCommand(newSimulateEvidenceCommand("sgx", "an SGX ECDSA quote (v3) for /attest/SgxEnclave", false),
		newSimulateEvidenceCommand("openenclave", "an OpenEnclave remote report for /attest/OpenEnclave", true),
		newSimulateSNPCommand(), newSimulateTDXCommand(), newSimulateKeyCommand())
	return root
}

func hexFlag(name, s string, n int) ([]byte, error) {
	if s == "" {
		return make([]byte, n), nil
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) > n {
		return nil, fmt.Errorf("--%s: want at most %d bytes of hex, got %q", name, n, s)
	}
	return append(b, make([]byte, n-len(b))...), nil
}

func newSimulateEvidenceCommand(name, short string, oe bool) *cobra.Command {
	var dataDir, out, runtimeFile, reportData, mrenclave, mrsigner, configID, extProdID, familyID, tcbStatus string
	var productID, svn, configSVN uint16
	var debug, kss bool
	cmd := &cobra.Command{
		Use:   name + " --out FILE",
		Short: "Write " + short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var e simulate.Enclave
			rd, err := simReportData(cmd, runtimeFile, reportData)
			if err != nil {
				return err
			}
			e.ReportData = rd
			for _, f := range []struct {
				name, v string
				dst     []byte
			}{{"mrenclave", mrenclave, e.MREnclave[:]}, {"mrsigner", mrsigner, e.MRSigner[:]}, {"config-id", configID, e.ConfigID[:]},
				{"isv-ext-prod-id", extProdID, e.ISVExtProdID[:]}, {"isv-family-id", familyID, e.ISVFamilyID[:]}} {
				b, err := hexFlag(f.name, f.v, len(f.dst))
				if err != nil {
					return err
				}
				copy(f.dst, b)
			}
			e.ProductID, e.SVN, e.ConfigSVN, e.Debug, e.KSS = productID, svn, configSVN, debug, kss
			known := simulate.SGXTCBStatuses()
			if !slices.Contains(known, collateral.TCBStatus(tcbStatus)) {
				return fmt.Errorf("--tcb-status: %q is not one of %v", tcbStatus, known)
			}
			e.TCBStatus = collateral.TCBStatus(tcbStatus)
			p, err := simulate.Load(dataDir, time.Now())
			if err != nil {
				return err
			}
			var ev []byte
			if oe {
				ev, err = p.OpenEnclaveReport(e)
			} else {
				ev, err = p.SGXQuote(e)
			}
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, ev, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d bytes of SIMULATED %s evidence to %s (report_data %x…); only a --dev --dev-trust-simulated-evidence server on %s accepts it\n",
				len(ev), name, out, e.ReportData[:8], dataDir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "./maat-data", "data directory of the server that will verify the evidence (holds the development PKI)")
	f.StringVar(&out, "out", "", "output file (binary evidence) (required)")
	f.StringVar(&runtimeFile, "runtime-data", "", "file whose SHA-256 goes into report_data[0:32] (send the same bytes as runtime data)")
	f.StringVar(&reportData, "report-data", "", "report_data as hex (up to 64 bytes, zero-padded)")
	f.StringVar(&mrenclave, "mrenclave", "", "MRENCLAVE, hex (32 bytes)")
	f.StringVar(&mrsigner, "mrsigner", "", "MRSIGNER, hex (32 bytes)")
	f.Uint16Var(&productID, "product-id", 0, "ISV product id")
	f.Uint16Var(&svn, "svn", 0, "ISV SVN")
	f.BoolVar(&debug, "debug", false, "set the DEBUG attribute (x-ms-sgx-is-debuggable: true)")
	f.BoolVar(&kss, "kss", false, "set the KSS attribute (the config and ISV family/extended product fields become claims)")
	f.StringVar(&configID, "config-id", "", "CONFIGID, hex (64 bytes; with --kss)")
	f.Uint16Var(&configSVN, "config-svn", 0, "CONFIGSVN (with --kss)")
	f.StringVar(&extProdID, "isv-ext-prod-id", "", "ISVEXTPRODID, hex (16 bytes; with --kss)")
	f.StringVar(&familyID, "isv-family-id", "", "ISVFAMILYID, hex (16 bytes; with --kss)")
	f.StringVar(&tcbStatus, "tcb-status", "UpToDate", "TCB status the development collateral gives the platform: UpToDate, SWHardeningNeeded, OutOfDate or Revoked (the server's accept-tcb-status decides whether it attests)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func newSimulateKeyCommand() *cobra.Command {
	var keyOut, runtimeOut, kid string
	cmd := &cobra.Command{
		Use:   "enclave-key --private-key FILE --runtime-data FILE",
		Short: "Make an ephemeral RSA key as an enclave would: its private key (PEM) and the JSON runtime data ({\"keys\":[JWK]}) to bind into the report",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			priv, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				return err
			}
			rk, err := azattest.NewRuntimeKey(priv, kid)
			if err != nil {
				return err
			}
			rt, err := rk.RuntimeData()
			if err != nil {
				return err
			}
			der, err := x509.MarshalPKCS8PrivateKey(priv)
			if err != nil {
				return err
			}
			if err := os.WriteFile(keyOut, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
				return err
			}
			return os.WriteFile(runtimeOut, rt, 0o644)
		},
	}
	cmd.Flags().StringVar(&keyOut, "private-key", "", "output: the private key, PEM (PKCS#8) (required)")
	cmd.Flags().StringVar(&runtimeOut, "runtime-data", "", "output: the runtime data, JSON (required)")
	cmd.Flags().StringVar(&kid, "kid", "enclave-key", "key id of the JWK")
	_ = cmd.MarkFlagRequired("private-key")
	_ = cmd.MarkFlagRequired("runtime-data")
	return cmd
}

// simReportData is the 64-byte report data of --runtime-data FILE (its
// SHA-256 in the first 32 bytes) or --report-data HEX; the two are
// exclusive.
func simReportData(cmd *cobra.Command, runtimeFile, reportData string) ([64]byte, error) {
	var rd [64]byte
	switch {
	case runtimeFile != "" && reportData != "":
		return rd, fmt.Errorf("--runtime-data and --report-data are exclusive")
	case runtimeFile != "":
		b, err := clientReadFile(cmd, runtimeFile)
		if err != nil {
			return rd, fmt.Errorf("--runtime-data: %w", err)
		}
		return simulate.ReportDataFor(b), nil
	}
	b, err := hexFlag("report-data", reportData, 64)
	if err != nil {
		return rd, err
	}
	copy(rd[:], b)
	return rd, nil
}
