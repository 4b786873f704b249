package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "maat.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedenceFlagsOverEnvOverFile(t *testing.T) {
	file := writeFile(t, "http-addr: 127.0.0.1:1000\nissuer: https://file.example\nlog-level: debug\ndev: true\nshutdown-timeout: 3s\n")
	c, err := Load(flags(t, "--config", file, "--http-addr", "127.0.0.1:3000"), env(map[string]string{
		"MAAT_HTTP_ADDR": "127.0.0.1:2000",
		"MAAT_ISSUER":    "https://env.example",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:3000" {
		t.Errorf("http-addr = %q, want the flag's value", c.HTTPAddr)
	}
	if c.Issuer != "https://env.example" {
		t.Errorf("issuer = %q, want the environment's value", c.Issuer)
	}
	if c.LogLevel != "debug" || !c.Dev || c.ShutdownTimeout != 3*time.Second {
		t.Errorf("file values not applied: %+v", c)
	}
	if c.DataDir != "./maat-data" {
		t.Errorf("default data dir = %q", c.DataDir)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestConfigFileFromEnv(t *testing.T) {
	file := writeFile(t, "mode: isolated\n")
	c, err := Load(flags(t), env(map[string]string{"MAAT_CONFIG": file}))
	if err != nil || c.Mode != "isolated" {
		t.Fatalf("Load = %+v, %v", c, err)
	}
}

func TestMalformedInputNamesTheKey(t *testing.T) {
	cases := []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"unknown file key", "htp-addr: x\n", nil, `unknown key "htp-addr"`},
		{"bad bool in file", "dev: maybe\n", nil, `key "dev"`},
		{"bad duration in file", "shutdown-timeout: soon\n", nil, `key "shutdown-timeout"`},
		{"not a mapping", "- a\n- b\n", nil, "mapping"},
		{"nested value", "issuer:\n  a: b\n", nil, `key "issuer" must be a single value`},
		{"yaml syntax", "issuer: [\n", nil, "maat.yaml"},
		{"bad env", "", map[string]string{"MAAT_MAX_BODY_BYTES": "lots"}, "MAAT_MAX_BODY_BYTES"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{}
			if tc.file != "" {
				args = append(args, "--config", writeFile(t, tc.file))
			}
			_, err := Load(flags(t, args...), env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := Load(flags(t, "--config", "/nonexistent/maat.yaml"), env(nil)); err == nil {
		t.Fatal("missing config file accepted")
	}
}

func TestValidate(t *testing.T) {
	ok := Default()
	ok.Dev = true
	if err := ok.Validate(); err != nil {
		t.Fatalf("dev defaults invalid: %v", err)
	}
	cases := []struct {
		name string
		mut  func(c *Config)
		key  string
	}{
		{"https without cert", func(c *Config) { c.Dev = false }, "tls-cert"},
		{"no listener", func(c *Config) { c.HTTPSAddr = "" }, "https-addr"},
		{"bad addr", func(c *Config) { c.HTTPAddr = "localhost" }, "http-addr"},
		{"bad port", func(c *Config) { c.HTTPAddr = "127.0.0.1:99999" }, "http-addr"},
		{"cert without key", func(c *Config) { c.TLSCert = "/etc/hostname" }, "tls-key"},
		{"missing cert file", func(c *Config) { c.TLSCert, c.TLSKey = "/nonexistent.pem", "/nonexistent.key" }, "tls-cert"},
		{"issuer not URL", func(c *Config) { c.Issuer = "maat.example" }, "issuer"},
		{"issuer trailing slash", func(c *Config) { c.Issuer = "https://maat.example/" }, "issuer"},
		{"mode", func(c *Config) { c.Mode = "shared" }, "mode"},
		{"log format", func(c *Config) { c.LogFormat = "xml" }, "log-format"},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, "log-level"},
		{"shutdown", func(c *Config) { c.ShutdownTimeout = 0 }, "shutdown-timeout"},
		{"body limit", func(c *Config) { c.MaxBodyBytes = 10 }, "max-body-bytes"},
		{"empty data", func(c *Config) { c.DataDir = "" }, "data"},
		{"postgres without KEK", func(c *Config) { c.Store = "postgres://db.example/maat" }, "key-encryption-key-file"},
		{"plaintext keys with SQLite", func(c *Config) { c.AllowPlaintextKeys = true }, "allow-plaintext-keys"},
		{"plaintext keys and a KEK", func(c *Config) {
			c.Store, c.KeyEncryption, c.AllowPlaintextKeys = "postgres://db.example/maat", "/etc/hostname", true
		}, "allow-plaintext-keys"},
		{"tls version", func(c *Config) { c.TLSMinVersion = "1.1" }, "tls-min-version"},
		{"oidc over http", func(c *Config) { c.OIDCIssuer, c.OIDCAudience = "http://login.example.com/tenant", "api://maat" }, "oidc-issuer"},
		{"oidc over http on a LAN IP", func(c *Config) { c.OIDCIssuer, c.OIDCAudience = "http://10.0.0.5:8080", "api://maat" }, "oidc-issuer"},
		{"oidc not a URL", func(c *Config) { c.OIDCIssuer, c.OIDCAudience = "login.example.com", "api://maat" }, "oidc-issuer"},
		{"token signer", func(c *Config) { c.TokenSigner = "boringssl" }, "token-signer"},
		{"token signer case", func(c *Config) { c.TokenSigner = "OpenSSL" }, "token-signer"},
		{"tdx mrseam not hex", func(c *Config) { c.TDXCompliantMRSEAM = []string{strings.Repeat("zz", 48)} }, "tdx-compliant-mrseam"},
		{"tdx mrtd too short", func(c *Config) { c.TDXCompliantMRTD = []string{strings.Repeat("ab", 32)} }, "tdx-compliant-mrtd"},
		{"tdx mrseam without mrtd", func(c *Config) { c.TDXCompliantMRSEAM = []string{strings.Repeat("ab", 48)} }, "tdx-compliant-mrtd"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mut(&c)
			before := c
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tc.key+":") && !strings.Contains(err.Error(), "\n"+tc.key+":") {
				t.Fatalf("Validate = %v, want an error naming %q", err, tc.key)
			}
			if !reflect.DeepEqual(c, before) {
				t.Fatal("Validate mutated the config")
			}
		})
	}
}

// TestValidateAccepts: the hardening rules leave the legitimate settings
// alone: a PostgreSQL store with a KEK or with the explicit opt-out, TLS
// 1.3 only, and OIDC issuers over https or on loopback over plain HTTP.
func TestValidateAccepts(t *testing.T) {
	for name, mut := range map[string]func(c *Config){
		"postgres with KEK":  func(c *Config) { c.Store, c.KeyEncryption = "postgres://db.example/maat", "/etc/hostname" },
		"postgres opted out": func(c *Config) { c.Store, c.AllowPlaintextKeys = "postgres://db.example/maat", true },
		"tls 1.3":            func(c *Config) { c.TLSMinVersion = "1.3" },
		"tdx compliance lists": func(c *Config) {
			c.TDXCompliantMRSEAM, c.TDXCompliantMRTD = []string{strings.Repeat("ab", 48)}, []string{strings.Repeat("CD", 48)}
		},
		"oidc https":                   func(c *Config) { c.OIDCIssuer, c.OIDCAudience = "https://login.example.com/t/v2.0", "api://maat" },
		"oidc http loopback":           func(c *Config) { c.OIDCIssuer, c.OIDCAudience = "http://127.0.0.1:5556/dex", "api://maat" },
		"oidc http localhost":          func(c *Config) { c.OIDCIssuer, c.OIDCAudience = "http://localhost:8080/realms/maat", "api://maat" },
		"oidc http ipv6 loopback":      func(c *Config) { c.OIDCIssuer, c.OIDCAudience = "http://[::1]:8080", "api://maat" },
		"insecure key file permission": func(c *Config) { c.AllowInsecureKeyFilePermissions = true },
	} {
		c := Default()
		c.Dev = true
		mut(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:80": true, "[::1]:80": true, "localhost:1": true, ":80": false, "0.0.0.0:80": false, "10.0.0.1:80": false, "bad": false} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v", addr, got)
		}
	}
}

// An environment variable that is set but empty counts as set: "empty
// disables" works in containers, where unset and empty differ.
func TestEmptyEnvironmentValueCountsAsSet(t *testing.T) {
	c, err := Load(flags(t), env(map[string]string{"MAAT_HTTPS_ADDR": "", "MAAT_HTTP_ADDR": "127.0.0.1:0", "MAAT_OIDC_ROLES_CLAIM": ""}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPSAddr != "" || c.OIDCRolesClaim != "" {
		t.Fatalf("https-addr %q, oidc-roles-claim %q: empty values ignored", c.HTTPSAddr, c.OIDCRolesClaim)
	}
	c, err = Load(flags(t), env(map[string]string{}))
	if err != nil || c.HTTPSAddr != Default().HTTPSAddr || c.OIDCRolesClaim != "roles" {
		t.Fatalf("unset variables changed defaults: %+v %v", c, err)
	}
}

// Every problem of the sources is reported at once, unknown keys with a
// suggestion.
func TestLoadReportsAllErrorsWithSuggestions(t *testing.T) {
	file := writeFile(t, "htps-addr: 127.0.0.1:1\nshutdown-timeout: forever\ncolateral-dir: x\nzzzzzzzzzzzz: 1\n")
	_, err := Load(flags(t, "--config", file), env(map[string]string{"MAAT_DEV": "maybe", "MAAT_MAX_BODY_BYTES": "lots"}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`line 1: unknown key "htps-addr" (did you mean "https-addr"?)`,
		`line 2: key "shutdown-timeout": "forever" is not a duration`,
		`line 3: unknown key "colateral-dir" (did you mean "collateral-dir"?)`,
		`unknown key "zzzzzzzzzzzz"`,
		`environment MAAT_DEV: "maybe" is not a boolean`,
		`environment MAAT_MAX_BODY_BYTES: "lots" is not an integer`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), `"zzzzzzzzzzzz" (did you mean`) {
		t.Errorf("suggested a key for nonsense: %v", err)
	}
}

func TestValidateDevClocksAndStartState(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"dev-evidence-time without dev", func(c *Config) { c.DevEvidenceTime = "2025-06-01T00:00:00Z" }, "dev-evidence-time: only allowed with --dev"},
		{"dev-evidence-time malformed", func(c *Config) { c.Dev = true; c.DevEvidenceTime = "June" }, `dev-evidence-time: "June" is not an RFC 3339 time`},
		{"both dev clocks", func(c *Config) {
			c.Dev = true
			c.DevTime, c.DevEvidenceTime = "2025-06-01T00:00:00Z", "2025-06-01T00:00:00Z"
		}, "not both"},
		{"garbage tls pair", func(c *Config) { c.TLSCert, c.TLSKey = junk, junk }, "tls-cert: " + junk + " and " + junk + " are not a PEM certificate"},
		{"isolated without certificates on a fresh data dir", func(c *Config) { c.Dev = true; c.Mode = "isolated" }, "policy-management-cert: Isolated mode needs at least one"},
	}
	for _, tc := range cases {
		c := Default()
		c.DataDir = filepath.Join(dir, "fresh")
		c.HTTPSAddr, c.HTTPAddr = "", "127.0.0.1:0"
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// Isolated mode on a data directory that already holds an instance
	// needs no certificate files.
	c := Default()
	c.Dev, c.Mode, c.DataDir, c.HTTPSAddr, c.HTTPAddr = true, "isolated", dir, "", "127.0.0.1:0"
	os.WriteFile(filepath.Join(dir, "maat.db"), nil, 0o600)
	if err := c.Validate(); err != nil {
		t.Errorf("existing isolated instance: %v", err)
	}
	// Every error comes in a stable order.
	bad := Default()
	bad.HTTPSAddr, bad.HTTPAddr, bad.LogLevel = "nohost", "alsono", "loud"
	first := bad.Validate().Error()
	for range 5 {
		if got := bad.Validate().Error(); got != first {
			t.Fatalf("error order changes:\n%s\n%s", first, got)
		}
	}
}
