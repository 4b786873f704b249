// Package cli holds the cobra commands of the maat binary. Commands are thin:
// each parses its flags and calls one package. They return errors (never
// exit); cmd/maat maps errors to exit codes.
package cli

import (
	"fmt"
	"strings"

	"github.com/maat-attest/maat/internal/keys"

	"github.com/spf13/cobra"
)

// Version is the maat version, set at build time with
// -ldflags "-X github.com/maat-attest/maat/internal/cli.Version=v1.2.3".
var Version = "dev"

// NewRootCommand returns the maat command tree.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "maat",
		Short:         "Maat: an attestation service, SDK and CLI compatible with Microsoft Azure Attestation",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
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
		NewTokenCommand(),
		newBenchCommand(),
		newKeyReleaseCommand(),
		newSimulateCommand(),
	)
	withHints(root)
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the maat version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "maat %s\n", Version)
			fmt.Fprintf(cmd.OutOrStdout(), "token signers: %s\n", strings.Join(keys.SignerBackends(), ", "))
			return nil
		},
	}
}
