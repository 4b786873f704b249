package app

import (
	"fmt"
	"io"
	"path/filepath"
)

// printDevTrustLine tells a dev server's user the exact client setting that
// trusts its generated certificate (an absolute path, so it works from any
// directory).
func printDevTrustLine(out io.Writer, certPath string) {
	if abs, err := filepath.Abs(certPath); err == nil {
		certPath = abs
	}
	fmt.Fprintf(out, "trust it in maat client commands with: export MAAT_CA_CERT=%s   (or --ca-cert %s)\n", certPath, certPath)
}
