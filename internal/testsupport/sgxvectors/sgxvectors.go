// Package sgxvectors holds the real Intel SGX DCAP vectors (quotes, Open
// Enclave reports and Intel-signed collateral) that the evidence, collateral,
// app and CLI tests share, embedded once. See data/README.md for where each
// file comes from, its validity window and the result a test should expect.
//
// It is test support: nothing in a production binary should import it.
package sgxvectors

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"runtime"
)

//go:embed data
var data embed.FS

// FS returns the vector tree rooted at dir ("dcapqvl", "pcs2025", …; "" or
// "." for the whole tree). It returns an error when dir does not exist.
func FS(dir string) (fs.FS, error) {
	if dir == "" {
		dir = "."
	}
	if _, err := fs.Stat(data, path.Join("data", dir)); err != nil {
		return nil, fmt.Errorf("sgxvectors: %w", err)
	}
	return fs.Sub(data, path.Join("data", dir))
}

// MustFS is FS for a directory known to exist; it panics otherwise.
func MustFS(dir string) fs.FS {
	f, err := FS(dir)
	if err != nil {
		panic(err)
	}
	return f
}

// Read returns a copy of the file at the slash-separated path elements (for
// example Read("dcapqvl", "sgx_quote.bin")). It returns an error wrapping
// fs.ErrNotExist for an unknown file.
func Read(elem ...string) ([]byte, error) {
	b, err := data.ReadFile(path.Join(append([]string{"data"}, elem...)...))
	if err != nil {
		return nil, fmt.Errorf("sgxvectors: %w", err)
	}
	return b, nil
}

// MustRead is Read for a file known to exist; it panics otherwise.
func MustRead(elem ...string) []byte {
	b, err := Read(elem...)
	if err != nil {
		panic(err)
	}
	return b
}

// Path returns the on-disk path of a vector file or directory in the source
// tree, for tests that must pass a path (configuration, CLI flags). It
// relies on the source tree being present, which `go test` guarantees; it
// returns "" when the location of this package cannot be determined.
func Path(elem ...string) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	return filepath.Join(append([]string{filepath.Dir(file), "data"}, elem...)...)
}
