// Package cli holds the cobra commands of the maat binary. Commands are thin:
// each parses its flags and calls one package. They return errors (never
// exit); cmd/maat maps errors to exit codes.
package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// NewRootCommand returns the maat command tree.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "maat",
		Short:         "Maat: an attestation service, SDK and CLI compatible with Microsoft Azure Attestation",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       ReadBuildInfo().Text(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	policy := NewPolicyCommand()
	policy.AddCommand(PolicyClientCommands()...)
	root.AddCommand(
		newServeCommand(),
		newVersionCommand(),
		newKeysCommand(),
		policy,
		NewEvidenceCommand(),
		NewAttestCommand(),
		NewCertsCommand(),
		NewTCBCommand(),
		NewCollateralCommand(),
		NewTokenCommand(),
		newBenchCommand(),
		newKeyReleaseCommand(),
		newSimulateCommand(),
		newAuditCommand(),
		newHealthcheckCommand(),
	)
	withHints(root)
	return root
}

func newVersionCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the maat version, commit, build date and Go version (also: maat --version)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := ReadBuildInfo()
			if asJSON {
				return clientPrintJSON(cmd, b)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), b.Text())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
