package cli

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/maat-attest/maat/internal/evidence/sevsnp"
	"github.com/maat-attest/maat/internal/simulate"
)

// newSimulateSNPCommand returns "simulate sevsnp": a SEV-SNP attestation
// report signed by the data directory's development VCEK, written as the
// SevSnpVm "report" JSON {SnpReport, VcekCertChain} that `maat attest
// sevsnp` and the SDK's AttestSEVSNPVM send.
func newSimulateSNPCommand() *cobra.Command {
	var dataDir, out, runtimeFile, reportData, initTimeFile, hostData, measurement, product, familyID, imageID string
	var vmpl, guestSVN uint32
	var debug bool
	cmd := &cobra.Command{
		Use:   "sevsnp --out FILE",
		Short: "Write a SEV-SNP report (v3) as the SevSnpVm report JSON for /attest/SevSnpVm",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var g simulate.SNPGuest
			rd, err := simReportData(cmd, runtimeFile, reportData)
			if err != nil {
				return err
			}
			g.ReportData = rd
			switch {
			case initTimeFile != "" && hostData != "":
				return fmt.Errorf("--init-time-data and --host-data are exclusive")
			case initTimeFile != "":
				b, err := clientReadFile(cmd, initTimeFile)
				if err != nil {
					return fmt.Errorf("--init-time-data: %w", err)
				}
				g.HostData = sha256.Sum256(b)
			}
			for _, f := range []struct {
				name, v string
				dst     []byte
			}{{"host-data", hostData, g.HostData[:]}, {"measurement", measurement, g.Measurement[:]},
				{"family-id", familyID, g.FamilyID[:]}, {"image-id", imageID, g.ImageID[:]}} {
				if f.v == "" {
					continue
				}
				b, err := hexFlag(f.name, f.v, len(f.dst))
				if err != nil {
					return err
				}
				copy(f.dst, b)
			}
			switch strings.ToLower(product) {
			case "milan":
				g.Product = sevsnp.ProductMilan
			case "genoa":
				g.Product = sevsnp.ProductGenoa
			default:
				return fmt.Errorf("--product: want milan or genoa, got %q", product)
			}
			if vmpl > 3 {
				return fmt.Errorf("--vmpl: want 0 to 3, got %d", vmpl)
			}
			g.VMPL, g.GuestSVN, g.Debug = vmpl, guestSVN, debug
			p, err := simulate.Load(dataDir, time.Now())
			if err != nil {
				return err
			}
			ev, err := p.SNPEvidence(g)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, ev, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote SIMULATED SEV-SNP evidence (%s, report_data %x…) to %s; send it with `maat attest sevsnp`; only a --dev --dev-trust-simulated-evidence server on %s accepts it\n",
				g.Product, g.ReportData[:8], out, dataDir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "./maat-data", "data directory of the server that will verify the evidence (holds the development PKI)")
	f.StringVar(&out, "out", "", "output file: the SevSnpVm report JSON {SnpReport, VcekCertChain} (required)")
	f.StringVar(&runtimeFile, "runtime-data", "", "file whose SHA-256 goes into REPORT_DATA[0:32] (send the same bytes as runtime data)")
	f.StringVar(&reportData, "report-data", "", "REPORT_DATA as hex (up to 64 bytes, zero-padded)")
	f.StringVar(&initTimeFile, "init-time-data", "", "file whose SHA-256 becomes HOST_DATA (send the same bytes as init-time data)")
	f.StringVar(&hostData, "host-data", "", "HOST_DATA as hex (up to 32 bytes, zero-padded)")
	f.StringVar(&measurement, "measurement", "", "MEASUREMENT as hex (up to 48 bytes, zero-padded)")
	f.StringVar(&familyID, "family-id", "", "FAMILY_ID as hex (up to 16 bytes)")
	f.StringVar(&imageID, "image-id", "", "IMAGE_ID as hex (up to 16 bytes)")
	f.StringVar(&product, "product", "milan", "milan or genoa: the report's CPUID and VCEK chain")
	f.Uint32Var(&vmpl, "vmpl", 0, "VMPL of the requesting guest (0-3)")
	f.Uint32Var(&guestSVN, "guest-svn", 0, "GUEST_SVN")
	f.BoolVar(&debug, "debug", false, "set the guest policy's DEBUG bit (x-ms-sevsnpvm-is-debuggable: true)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}
