//go:build simulator

package cli

import (
	"crypto"
	"io"

	"github.com/google/go-tpm-tools/simulator"

	"github.com/maat-attest/maat/internal/devaik"
)

// simulatorBuilt reports whether this binary carries the TPM 2.0 simulator
// (C code built with cgo against OpenSSL, hence behind the simulator tag).
const simulatorBuilt = true

// openSimulator starts the in-process TPM 2.0 simulator.
func openSimulator() (io.ReadWriteCloser, error) { return simulator.Get() }

// certifySimulatedAIK certifies a simulated AIK with the development AIK
// CA, which `maat serve --dev` trusts.
func certifySimulatedAIK(aik crypto.PublicKey) ([]byte, error) { return devaik.Certify(aik) }
