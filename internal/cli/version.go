package cli

import (
	"runtime/debug"
	"strings"

	"github.com/maat-attest/maat/internal/keys"
)

// Version is the maat version, set at build time with
// -ldflags "-X github.com/maat-attest/maat/internal/cli.Version=v1.2.3";
// otherwise the module version from the build information (a tagged
// `go install ...@v1.2.3`), else "dev".
var Version = ""

// BuildInfo describes the running binary.
type BuildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`    // VCS revision, "-dirty" when modified
	Date      string `json:"date,omitempty"`      // commit time (RFC 3339)
	GoVersion string `json:"goVersion"`           // toolchain that built it
	Simulator bool   `json:"tpmSimulator"`        // built with -tags simulator
	CGO       bool   `json:"cgo"`                 // built with cgo
	Tags      string `json:"buildTags,omitempty"` // -tags
	// TokenSigners are the token-signing backends compiled in.
	TokenSigners []string `json:"tokenSigners"`
}

// Text is what `maat version` and `maat --version` print: String, then the
// token signers compiled in.
func (b BuildInfo) Text() string {
	return b.String() + "\ntoken signers: " + strings.Join(b.TokenSigners, ", ")
}

// ReadBuildInfo returns the binary's version, commit, date and Go version
// from debug.ReadBuildInfo, with Version overriding the module version.
func ReadBuildInfo() BuildInfo {
	b := BuildInfo{Version: Version, Simulator: simulatorBuilt, TokenSigners: keys.SignerBackends()}
	info, ok := debug.ReadBuildInfo()
	if ok {
		b.GoVersion = info.GoVersion
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		modified := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.time":
				b.Date = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			case "CGO_ENABLED":
				b.CGO = s.Value == "1"
			case "-tags":
				b.Tags = s.Value
			}
		}
		if modified && b.Commit != "" {
			b.Commit += "-dirty"
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	return b
}

// String is the one-line form `maat version` prints.
func (b BuildInfo) String() string {
	parts := []string{"maat " + b.Version}
	if b.Commit != "" {
		c := b.Commit
		if len(c) > 12 && !strings.HasSuffix(c, "-dirty") {
			c = c[:12]
		} else if strings.HasSuffix(c, "-dirty") && len(c) > 18 {
			c = c[:12] + "-dirty"
		}
		parts = append(parts, "commit "+c)
	}
	if b.Date != "" {
		parts = append(parts, "built from a commit of "+b.Date)
	}
	parts = append(parts, b.GoVersion)
	sim := "without the TPM simulator"
	if b.Simulator {
		sim = "with the TPM simulator"
	}
	parts = append(parts, sim)
	return strings.Join(parts, ", ")
}
