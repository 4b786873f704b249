package cli

import (
	"context"

	"time"

	"github.com/maat-attest/maat/sdk/azattest"

	"github.com/spf13/cobra"
)

// NewTCBCommand returns "tcb baselines": the TCB baselines an endpoint
// offers for an attestation type (GET /tcbbaselines/{type}), with the one
// its policy selects marked.
func NewTCBCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tcb",
		Short: "Show an endpoint's TCB baselines (GET /tcbbaselines)",
	}
	var conn clientConn
	var typ string
	baselines := &cobra.Command{
		Use:   "baselines",
		Short: "List the TCB baselines for --type (SgxEnclave, OpenEnclave; TdxVm on Maat) and the one the policy selects",
		Long: `List the TCB baselines the endpoint offers for an attestation type: each
baseline's identifier, Intel TCB evaluation data number and release date, and
whether the instance's policy selects it (x-ms-sgx-tcbidentifier in its
configuration rules). Needs api-version 2025-06-01 (the default).`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := clientAttestationType(typ)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("api-version") {
				conn.apiVersion = string(azattest.ServiceVersion2025_06_01) // the first that has it
			}
			c, err := conn.client(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			res, err := c.GetTCBBaselines(ctx, t, nil)
			if err != nil {
				return err
			}
			out := []map[string]any{}
			for _, b := range res.Baselines {
				m := map[string]any{
					"tcbIdentifier": b.TCBIdentifier, "tcbEvaluationDataNumber": b.TCBEvaluationDataNumber,
					"isSelectedTcb": b.IsSelectedTCB,
				}
				if !b.TCBReleaseDate.IsZero() {
					m["tcbReleaseDate"] = b.TCBReleaseDate.UTC().Format(time.RFC3339)
				}
				if b.MinimumPSWLinuxVersion != "" {
					m["minimumPswLinuxVersion"] = b.MinimumPSWLinuxVersion
				}
				if b.MinimumPSWWindowsVersion != "" {
					m["minimumPswWindowsVersion"] = b.MinimumPSWWindowsVersion
				}
				out = append(out, m)
			}
			return clientPrintJSON(cmd, out)
		},
	}
	conn.addFlags(baselines, false)
	baselines.Flags().StringVar(&typ, "type", "SgxEnclave", "attestation type: SgxEnclave, OpenEnclave or TdxVm")
	cmd.AddCommand(baselines)
	return cmd
}
