//go:build !simulator

package cli

import (
	"crypto"
	"errors"
	"io"
)

const simulatorBuilt = false

// errNoSimulator explains how to get a binary with the simulator.
var errNoSimulator = errors.New("this maat binary was built without the TPM 2.0 simulator; " +
	"build it in with `go install -tags simulator ./cmd/maat` (needs cgo: gcc and the OpenSSL headers, e.g. libssl-dev)")

func openSimulator() (io.ReadWriteCloser, error) { return nil, errNoSimulator }

func certifySimulatedAIK(crypto.PublicKey) ([]byte, error) { return nil, errNoSimulator }
