// Package tdxvectors holds the real Intel TDX vectors (TD quotes v4 and v5,
// Azure HCL reports and Intel-signed TDX collateral) that the tdx, collateral
// and app tests share, embedded once. See data/README.md for where each
// file comes from, its validity window and the result a test should expect.
//
// It is test support: nothing in a production binary should import it.
package tdxvectors

import (
	"embed"
	"io/fs"
	"path/filepath"
	"runtime"

	"github.com/maat-attest/maat/internal/testsupport/vectorset"
)

//go:embed data
var data embed.FS

var set = vectorset.New("tdxvectors", data, sourceDir())

func sourceDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	return filepath.Dir(file)
}

// FS returns the vector tree rooted at dir ("azure_dcesv5", "dcapqvl_v4", …; "" or "." for the
// whole tree). It returns an error when dir does not exist.
func FS(dir string) (fs.FS, error) { return set.FS(dir) }

// MustFS is FS for a directory known to exist; it panics otherwise.
func MustFS(dir string) fs.FS { return set.MustFS(dir) }

// Read returns a copy of the file at the slash-separated path elements (for
// example Read("azure_dcesv5", "quote.bin")). It returns an error wrapping fs.ErrNotExist for an
// unknown file.
func Read(elem ...string) ([]byte, error) { return set.Read(elem...) }

// MustRead is Read for a file known to exist; it panics otherwise.
func MustRead(elem ...string) []byte { return set.MustRead(elem...) }

// Path returns the on-disk path of a vector file or directory in the source
// tree, for tests that must pass a path (configuration, CLI flags).
func Path(elem ...string) string { return set.Path(elem...) }
