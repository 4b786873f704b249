//go:build simulator

package main

// buildTags builds the binary under test with the TPM simulator when the
// tests themselves are built with it (`go test -tags simulator`).
var buildTags = []string{"-tags", "simulator"}
