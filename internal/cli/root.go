// Package cli holds the cobra commands of the maat binary. Commands are thin:
// each parses its flags and calls one package. They return errors (never
// exit); cmd/maat maps errors to exit codes.
package cli

import (
	"fmt"

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
	root.AddCommand(newServeCommand(), newVersionCommand(), newKeysCommand())
	for _, add := range extraCommands {
		root.AddCommand(add())
	}
	return root
}

// extraCommands lets command files of other areas register themselves
// without editing this file.
var extraCommands []func() *cobra.Command

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the maat version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "maat %s\n", Version)
			return nil
		},
	}
}
