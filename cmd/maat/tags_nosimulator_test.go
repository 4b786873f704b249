//go:build !simulator

package main

import (
	"strings"
	"testing"
)

var buildTags []string

// Without the simulator tag the binary says how to get the simulator
// instead of failing obscurely.
func TestAttestTPMSimulatorNotBuilt(t *testing.T) {
	_, stderr, code := run(t, "attest", "tpm", "--simulator", "--endpoint", "http://127.0.0.1:1")
	if code == 0 || !strings.Contains(stderr, "-tags simulator") {
		t.Fatalf("exit %d, stderr %q: want the -tags simulator hint", code, stderr)
	}
}
