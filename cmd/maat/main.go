// Command maat is the Maat attestation server, SDK-backed client and
// offline verifier. Run `maat --help`.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/maat-attest/maat/internal/cli"
)

func main() {
	if err := cli.NewRootCommand().ExecuteContext(context.Background()); err != nil {
		if !cli.Reported(err) { // policy diagnostics are printed once, by the command
			fmt.Fprintf(os.Stderr, "maat: %v\n", err)
		}
		os.Exit(1)
	}
}
