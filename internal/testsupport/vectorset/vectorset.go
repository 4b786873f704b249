// Package vectorset is the code the embedded test-vector packages
// (sgxvectors, tdxvectors) share: a named tree of files embedded under
// data/, read as an fs.FS, as bytes, or by on-disk path.
//
// It is test support: nothing in a production binary should import it.
package vectorset

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
)

// Set is one embedded vector tree.
type Set struct {
	name string
	data embed.FS
	dir  string // the package directory on disk
}

// New returns the set name whose files are embedded in data under "data/";
// dir is the directory of the embedding package's source (for Path).
func New(name string, data embed.FS, dir string) *Set {
	return &Set{name: name, data: data, dir: dir}
}

// FS returns the tree rooted at dir ("" or "." for the whole tree). It
// returns an error when dir does not exist.
func (s *Set) FS(dir string) (fs.FS, error) {
	if dir == "" {
		dir = "."
	}
	if _, err := fs.Stat(s.data, path.Join("data", dir)); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return fs.Sub(s.data, path.Join("data", dir))
}

// MustFS is FS for a directory known to exist; it panics otherwise.
func (s *Set) MustFS(dir string) fs.FS {
	f, err := s.FS(dir)
	if err != nil {
		panic(err)
	}
	return f
}

// Read returns a copy of the file at the slash-separated path elements. It
// returns an error wrapping fs.ErrNotExist for an unknown file.
func (s *Set) Read(elem ...string) ([]byte, error) {
	b, err := s.data.ReadFile(path.Join(append([]string{"data"}, elem...)...))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return b, nil
}

// MustRead is Read for a file known to exist; it panics otherwise.
func (s *Set) MustRead(elem ...string) []byte {
	b, err := s.Read(elem...)
	if err != nil {
		panic(err)
	}
	return b
}

// Path returns the on-disk path of a file or directory in the source tree,
// for tests that must pass a path (configuration, CLI flags); `go test`
// guarantees the source tree is present. It returns "" when the embedding
// package's directory is unknown.
func (s *Set) Path(elem ...string) string {
	if s.dir == "" {
		return ""
	}
	return filepath.Join(append([]string{s.dir, "data"}, elem...)...)
}
