package cli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/maat-attest/maat/internal/collateral/amd"
	"github.com/maat-attest/maat/internal/evidence/sevsnp"
)

// NewCollateralCommand returns "collateral fetch": fill a data directory's
// collateral cache ahead of time, so that an air-gapped or fetch-disabled
// server verifies the reports it will see without reaching AMD.
func NewCollateralCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "collateral",
		Short: "Prepare collateral caches for offline verification",
	}
	var dataDir, kdsURL, thimURL, typ string
	fetch := &cobra.Command{
		Use:   "fetch --type sevsnp REPORT...",
		Short: "Fetch the AMD VCEKs (and CRLs) a list of SEV-SNP reports needs into <data>/amd-collateral",
		Long: `For each SEV-SNP report (a raw 1184-byte ATTESTATION_REPORT, or the SevSnpVm
"report" JSON {SnpReport, VcekCertChain} as clients send it; raw, hex or base64),
fetch the VCEK for its chip and reported TCB, and the product's VCEK CRL, from
AMD KDS (or an Azure THIM cache with --thim-url) into the data directory's
amd-collateral cache, which a server on that data directory reads before any
network (VCEKs are immutable; they are kept indefinitely). A CRL that cannot be
fetched is a warning: servers check CRLs softly by default.`,
		Args:         cobra.MinimumNArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if typ != "sevsnp" {
				return fmt.Errorf("--type %q: only sevsnp collateral can be fetched ahead (Intel collateral is one bundle per platform: see collateral-dir)", typ)
			}
			src, err := amd.New(amd.Options{
				KDSURL: kdsURL, THIMURL: thimURL, CacheDir: filepath.Join(dataDir, "amd-collateral"),
				Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			for _, a := range args {
				raw, err := evidenceReadFile(a, true)
				if err != nil {
					return err
				}
				if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
					e, err := sevsnp.DecodeEvidence(raw)
					if err != nil {
						return fmt.Errorf("%s: %v", a, err)
					}
					raw = e.Report
				}
				r, err := sevsnp.ParseReport(raw)
				if err != nil {
					return fmt.Errorf("%s: %v", a, err)
				}
				q, ok := sevsnp.QueryFor(r, sevsnp.ProductUnknown)
				if !ok {
					return fmt.Errorf("%s: the report names no product (a v1/v2 report: its VCEK chain must travel with it) or masks its chip ID (VLEK): nothing to fetch", a)
				}
				if err := src.Prefetch(ctx, q); err != nil {
					if _, verr := src.VCEK(ctx, q); verr != nil {
						return fmt.Errorf("%s: %v", a, err)
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: VCEK cached, CRL not: %v\n", a, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s chip %x… TCB %x: cached\n", a, q.Product, q.ChipID[:8], q.ReportedTCB)
			}
			return nil
		},
	}
	f := fetch.Flags()
	f.StringVar(&typ, "type", "sevsnp", "collateral type: sevsnp")
	f.StringVar(&dataDir, "data", "./maat-data", "data directory of the server that will use the cache")
	f.StringVar(&kdsURL, "kds-url", "", "AMD KDS base URL (default "+amd.DefaultKDSURL+")")
	f.StringVar(&thimURL, "thim-url", "", "Azure THIM / global cache base URL, tried before KDS")
	cmd.AddCommand(fetch)
	return cmd
}
