// Package config turns a YAML file, MAAT_* environment variables and
// command-line flags into a validated Config for `maat serve`. Precedence:
// flags over environment over file over defaults. Every option is declared
// once in the options table below, which gives its file key, environment
// variable and flag, so the three sources cannot drift apart. Validation
// reports every problem, each naming the offending key, and never mutates
// the Config.
package config

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// Config is the server configuration. The zero value is not valid; start
// from Default().
type Config struct {
	HTTPSAddr       string        // listen address for HTTPS ("" disables)
	HTTPAddr        string        // listen address for plain HTTP ("" disables)
	TLSCert         string        // PEM certificate file for HTTPS
	TLSKey          string        // PEM key file for HTTPS
	DataDir         string        // directory of the embedded database and dev files
	Store           string        // "" (embedded SQLite in DataDir) or a postgres:// DSN
	StoreSchema     string        // PostgreSQL schema for Maat's tables ("" = the DSN's search_path)
	MaxStaleness    time.Duration // refuse attestation when the store has been unreachable longer (0 = never)
	Issuer          string        // instance URI; derived from the listen address when empty
	Mode            string        // "aad" or "isolated"
	Dev             bool          // development mode
	LogFormat       string        // "text" or "json"
	LogLevel        string        // "debug", "info", "warn", "error"
	ShutdownTimeout time.Duration // bound on graceful shutdown
	MaxBodyBytes    int64         // request body limit
	KeyEncryption   string        // file holding the 32-byte key-encryption key ("" = generated in DataDir for SQLite)
	// AllowPlaintextKeys lets a PostgreSQL store run without a
	// key-encryption key, storing signing keys unencrypted (loudly logged).
	AllowPlaintextKeys bool
	// AllowInsecureKeyFilePermissions accepts key files (key-encryption
	// key, TPM context key) that their group or other users may access.
	AllowInsecureKeyFilePermissions bool
	TLSMinVersion                   string // "1.2" or "1.3"
	TokenSigner                     string // crypto backend signing tokens: "auto" (or ""), "go" or "openssl"

	// Attestation.
	CollateralDir   string   // local collateral bundle directory (offline-capable)
	CollateralURL   string   // PCS-compatible base URL (Intel PCS v4 when empty and no dir)
	CollateralCA    string   // PEM CA bundle that verifies the collateral service's TLS certificate
	Offline         bool     // never fetch collateral from the network
	AcceptTCBStatus []string // TCB statuses accepted before the policy runs

	// TDX (decision D9).
	// accept-tdx-tcb-status: TDX TCB statuses accepted before the policy
	// runs. The default includes OutOfDate: Azure's TDX hardware is
	// OutOfDate against Intel's latest collateral while MAA attests it
	// (contract §4.3).
	TDXAcceptTCB []string
	TDXUnmatched string // tdx-unmatched-tcb-level: "reject" or "out-of-date" for a TD quote matching no TCB level
	// tdx-compliant-mrtd / tdx-compliant-mrseam (decision D6): a TD whose
	// MRTD is listed, and whose TDX module's MRSEAM is listed when that list
	// is set, is issued x-ms-compliance-status azure-compliant-cvm.
	TDXCompliantMRSEAM []string
	TDXCompliantMRTD   []string

	PolicyMgmtCerts []string // PEM files: initial policy-management certificates (Isolated mode)
	// AllowChainedSigners accepts management JWS signed by a certificate that
	// chains to a listed policy-management certificate (Isolated mode).
	AllowChainedSigners bool
	// AllowManagementReplay turns off the refusal of superseded signed
	// management requests (MAA's behaviour; rollback becomes possible).
	AllowManagementReplay bool
	TPMContextKey         string   // file with the 32-byte key sealing TPM service contexts ("" = derived from the signing keys)
	TPMAIKRoots           []string // PEM files: roots AIK certificates must chain to
	AzureVTPMAKRoots      []string // PEM files: Azure vTPM AK certificate roots (AzureGuest)

	// SEV-SNP (SevSnpVm).
	SevSnpFetch           bool     // fetch missing VCEKs and AMD CRLs on the request path
	SevSnpKDSURL          string   // AMD KDS base URL ("" = https://kdsintf.amd.com)
	SevSnpTHIMURL         string   // Azure certificate cache base URL ("" = not used)
	SevSnpCRL             string   // off, soft or hard
	SevSnpMinimumTCB      []string // per product: "Milan:bl=3:tee=0:snp=8:ucode=115" (Turin also fmc=)
	SevSnpAllowBelowMin   bool     // let reports below the minimum TCB reach the policy
	SevSnpAcceptHCL       bool     // sevsnp-accept-hcl-report: a raw Azure HCL report as the SevSnpVm "report"
	SevSnpUVMIssuers      []string // trusted UVM endorsement issuers: "<did:x509>|<feed>[|compliant]"
	SevSnpCompliantIDKeys []string // ID-key digests (96 hex) that make a CVM azure-compliant-cvm

	// Authentication of management calls.
	DevBearerToken string   // --dev only: the bearer token management calls must present (random if empty)
	OIDCIssuer     string   // OpenID Connect issuer whose bearer tokens authorize management calls
	OIDCAudience   string   // audience those tokens must carry
	OIDCRolesClaim string   // claim holding roles ("" disables role checks)
	OIDCReaders    []string // roles that may read policies and certificates
	OIDCWriters    []string // roles that may also change them
	AuthDisabled   bool     // no authentication of management calls (loudly logged)

	// Operations (admin listener, tracing).
	MetricsAddr string // admin listener: /metrics, /healthz, /readyz ("" disables)
	Pprof       bool   // serve /debug/pprof on the admin listener
	Tracing     bool   // export OpenTelemetry traces over OTLP (OTEL_* environment variables configure the exporter)

	// Development conveniences (--dev only).
	DevTime         string // RFC 3339: every server clock starts at this instant (tokens too)
	DevEvidenceTime string // RFC 3339: the clock that verifies evidence and collateral starts here; tokens use the real clock

	// Secure key release (Maat extension, /x-maat/keys).
	KeyReleaseIssuers         []string // MAA-compatible issuers (besides this instance) whose tokens may release keys
	DevTrustSimulatedEvidence bool     // --dev only: trust `maat simulate` evidence signed by the data directory's development PKI

	// Version is the build's version (not a configuration key): the
	// server sends it in the x-maat-version response header.
	Version string
}

// Default returns the defaults: HTTPS on 127.0.0.1:8443, no plain HTTP,
// data in ./maat-data, AAD mode, text logs at info level.
func Default() Config {
	return Config{
		HTTPSAddr:       "127.0.0.1:8443",
		DataDir:         "./maat-data",
		Mode:            "aad",
		LogFormat:       "text",
		LogLevel:        "info",
		ShutdownTimeout: 15 * time.Second,
		MaxBodyBytes:    1 << 20,
		TLSMinVersion:   "1.2",
		SevSnpCRL:       "soft",
		TokenSigner:     "auto",
		AcceptTCBStatus: []string{"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded"},
		TDXAcceptTCB:    []string{"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"},
		TDXUnmatched:    "reject",
		OIDCRolesClaim:  "roles",
		OIDCReaders:     []string{"Attestation Reader"},
		OIDCWriters:     []string{"Attestation Contributor"},
	}
}

type kind int

const (
	kString kind = iota
	kBool
	kDuration
	kInt64
	kList
)

// option declares one configuration key.
type option struct {
	key   string // file key and flag name
	usage string
	kind  kind
	ptr   func(c *Config) any
}

func (o option) env() string {
	return "MAAT_" + strings.ToUpper(strings.ReplaceAll(o.key, "-", "_"))
}

var options = []option{
	{"https-addr", "HTTPS listen address (empty disables HTTPS)", kString, func(c *Config) any { return &c.HTTPSAddr }},
	{"http-addr", "plain HTTP listen address, for local use and tests (empty disables)", kString, func(c *Config) any { return &c.HTTPAddr }},
	{"tls-cert", "PEM certificate (chain) for HTTPS", kString, func(c *Config) any { return &c.TLSCert }},
	{"tls-key", "PEM private key for HTTPS", kString, func(c *Config) any { return &c.TLSKey }},
	{"data", "data directory (embedded database, dev TLS certificate)", kString, func(c *Config) any { return &c.DataDir }},
	{"store", "shared store: a postgres://user@host/db DSN for several replicas (default: embedded SQLite in the data directory)", kString, func(c *Config) any { return &c.Store }},
	{"store-schema", "PostgreSQL schema for Maat's tables (default: the DSN's search_path)", kString, func(c *Config) any { return &c.StoreSchema }},
	{"max-staleness", "refuse attestation (503) when the store has been unreachable for longer than this; 0 attests from memory for as long as an outage lasts", kDuration, func(c *Config) any { return &c.MaxStaleness }},
	{"issuer", "instance URI used as iss, in jku and as the signing certificate subject (default: derived from the listen address)", kString, func(c *Config) any { return &c.Issuer }},
	{"mode", "policy management mode: aad or isolated", kString, func(c *Config) any { return &c.Mode }},
	{"dev", "development mode: generated TLS certificate, loud banner, test conveniences", kBool, func(c *Config) any { return &c.Dev }},
	{"log-format", "log format: text or json", kString, func(c *Config) any { return &c.LogFormat }},
	{"log-level", "log level: debug, info, warn or error", kString, func(c *Config) any { return &c.LogLevel }},
	{"shutdown-timeout", "how long graceful shutdown waits for in-flight requests", kDuration, func(c *Config) any { return &c.ShutdownTimeout }},
	{"max-body-bytes", "largest request body accepted, in bytes", kInt64, func(c *Config) any { return &c.MaxBodyBytes }},
	{"key-encryption-key-file", "file (mode 0600) with a 32-byte key (hex/base64) that seals signing keys at rest; required with a PostgreSQL store (default with SQLite: generated as key-encryption-key in the data directory)", kString, func(c *Config) any { return &c.KeyEncryption }},
	{"allow-plaintext-keys", "with a PostgreSQL store and no key-encryption-key-file: store signing keys unencrypted (unsafe; logged at every start)", kBool, func(c *Config) any { return &c.AllowPlaintextKeys }},
	{"allow-insecure-key-file-permissions", "accept key-encryption and TPM context key files that their group or other users can access", kBool, func(c *Config) any { return &c.AllowInsecureKeyFilePermissions }},
	{"tls-min-version", "lowest TLS version the HTTPS listener accepts: 1.2 (ECDHE with AES-GCM or ChaCha20-Poly1305 only) or 1.3", kString, func(c *Config) any { return &c.TLSMinVersion }},
	{"token-signer", "crypto backend that signs tokens: auto (OpenSSL when compiled in and libcrypto 3 works, else Go), go, or openssl", kString, func(c *Config) any { return &c.TokenSigner }},
	{"collateral-dir", "local Intel collateral bundle directory (tcb_info.json, qe_identity.json, CRLs, issuer chains; tcb_info_<FMSPC>.json for several platforms)", kString, func(c *Config) any { return &c.CollateralDir }},
	{"collateral-url", "PCS-compatible collateral service base URL (Intel PCS v4, a PCCS, or an Azure cache); default Intel PCS", kString, func(c *Config) any { return &c.CollateralURL }},
	{"collateral-ca", "PEM CA bundle for the collateral service's TLS certificate", kString, func(c *Config) any { return &c.CollateralCA }},
	{"offline", "never fetch collateral from the network (requires collateral-dir)", kBool, func(c *Config) any { return &c.Offline }},
	{"accept-tcb-status", "comma-separated SGX TCB statuses accepted before the policy runs", kList, func(c *Config) any { return &c.AcceptTCBStatus }},
	{"accept-tdx-tcb-status", "comma-separated TDX TCB statuses accepted before the policy runs (default includes OutOfDate: Azure TDX hardware is OutOfDate against Intel's latest collateral)", kList, func(c *Config) any { return &c.TDXAcceptTCB }},
	{"tdx-unmatched-tcb-level", "TD quotes matching no Intel TCB level (e.g. Azure DCesv6): reject, or out-of-date to accept them as OutOfDate with x-maat-tdx-tcb-unmatched", kString, func(c *Config) any { return &c.TDXUnmatched }},
	{"tdx-compliant-mrseam", "MRSEAM (96 hex) of a TDX module a TD listed in tdx-compliant-mrtd must also run on to be azure-compliant-cvm (x-ms-compliance-status); repeatable", kList, func(c *Config) any { return &c.TDXCompliantMRSEAM }},
	{"tdx-compliant-mrtd", "MRTD (96 hex) of a TD image that is azure-compliant-cvm (x-ms-compliance-status; with tdx-compliant-mrseam, only on those TDX modules); repeatable", kList, func(c *Config) any { return &c.TDXCompliantMRTD }},
	{"policy-management-cert", "PEM file of an initial policy-management certificate (Isolated mode; repeatable)", kList, func(c *Config) any { return &c.PolicyMgmtCerts }},
	{"allow-management-replay", "Isolated mode: accept a signed policy or certificate request again after a later one superseded it, as MAA does (allows rollback by replay; for replaying recorded MAA traffic)", kBool, func(c *Config) any { return &c.AllowManagementReplay }},
	{"policy-management-allow-chained-signers", "Isolated mode: also accept policy and certificate JWS signed by a certificate that chains to a policy-management certificate (reported in responses)", kBool, func(c *Config) any { return &c.AllowChainedSigners }},
	{"tpm-context-key-file", "file with a 32-byte key (hex/base64) sealing TPM service contexts, shared by replicas (default: derived from the instance's signing keys)", kString, func(c *Config) any { return &c.TPMContextKey }},
	{"tpm-aik-root", "PEM file of a root AIK certificates must chain to (TPM attestation; repeatable)", kList, func(c *Config) any { return &c.TPMAIKRoots }},
	{"azure-vtpm-ak-roots", "PEM file of Azure vTPM AK certificate roots (AzureGuest: required for Trusted Launch guests, reported for confidential VMs; repeatable)", kList, func(c *Config) any { return &c.AzureVTPMAKRoots }},
	{"sevsnp-fetch", "fetch VCEKs missing from the evidence and AMD CRLs from AMD KDS (or sevsnp-thim-url) on the request path; off, only the cache and collateral-dir/snp are used", kBool, func(c *Config) any { return &c.SevSnpFetch }},
	{"sevsnp-kds-url", "AMD Key Distribution Service base URL (default https://kdsintf.amd.com)", kString, func(c *Config) any { return &c.SevSnpKDSURL }},
	{"sevsnp-thim-url", "Azure certificate cache base URL tried before KDS (for example https://global.acccache.azure.net)", kString, func(c *Config) any { return &c.SevSnpTHIMURL }},
	{"sevsnp-crl", "SEV-SNP CRL checking: off, soft (fail open when the CRL cannot be had, closed when revoked) or hard", kString, func(c *Config) any { return &c.SevSnpCRL }},
	{"sevsnp-minimum-tcb", "minimum REPORTED_TCB per product, for example Milan:bl=3:tee=0:snp=8:ucode=115 (Turin also fmc=); repeatable", kList, func(c *Config) any { return &c.SevSnpMinimumTCB }},
	{"sevsnp-accept-hcl-report", "accept a raw Azure HCL report (HCLA, as the paravisor writes it) as the SevSnpVm report: its SNP report is verified with a VCEK from the AMD collateral source, must come from VMPL 0, and its runtime claims must be bound to REPORT_DATA; they become x-ms-runtime", kBool, func(c *Config) any { return &c.SevSnpAcceptHCL }},
	{"sevsnp-allow-below-minimum", "let SEV-SNP reports below sevsnp-minimum-tcb reach the policy (x-maat-sevsnpvm-tcb-status BelowMinimum) instead of refusing them", kBool, func(c *Config) any { return &c.SevSnpAllowBelowMin }},
	{"sevsnp-uvm-issuer", "trusted UVM endorsement issuer \"<did:x509>|<feed>[|compliant]\" (compliant: grants azure-compliant-uvm); repeatable", kList, func(c *Config) any { return &c.SevSnpUVMIssuers }},
	{"sevsnp-compliant-idkeydigest", "ID_KEY_DIGEST (96 hex) that makes a SEV-SNP CVM azure-compliant-cvm; repeatable", kList, func(c *Config) any { return &c.SevSnpCompliantIDKeys }},
	{"dev-bearer-token", "with --dev: the bearer token management calls must present (random and printed when empty)", kString, func(c *Config) any { return &c.DevBearerToken }},
	{"oidc-issuer", "OpenID Connect issuer URL whose bearer tokens authorize management calls (Entra ID, Keycloak, Dex, …)", kString, func(c *Config) any { return &c.OIDCIssuer }},
	{"oidc-audience", "audience (aud) management bearer tokens must carry", kString, func(c *Config) any { return &c.OIDCAudience }},
	{"oidc-roles-claim", "token claim holding the caller's roles (empty: any valid token may manage)", kString, func(c *Config) any { return &c.OIDCRolesClaim }},
	{"oidc-reader-roles", "comma-separated roles that may read policies and certificates", kList, func(c *Config) any { return &c.OIDCReaders }},
	{"oidc-contributor-roles", "comma-separated roles that may change policies and certificates", kList, func(c *Config) any { return &c.OIDCWriters }},
	{"auth-disabled", "do not authenticate policy and certificate management calls (unsafe outside a closed network)", kBool, func(c *Config) any { return &c.AuthDisabled }},
	{"metrics-addr", "admin listener address serving /metrics (Prometheus), /healthz and /readyz; never on the MAA listeners (empty disables)", kString, func(c *Config) any { return &c.MetricsAddr }},
	{"pprof", "serve /debug/pprof on the admin listener (requires metrics-addr)", kBool, func(c *Config) any { return &c.Pprof }},
	{"tracing", "export OpenTelemetry traces over OTLP/HTTP, configured by the standard OTEL_EXPORTER_OTLP_* and OTEL_* environment variables", kBool, func(c *Config) any { return &c.Tracing }},
	{"dev-time", "with --dev: RFC 3339 instant every server clock starts at, tokens included (tests that need tokens from the past; see dev-evidence-time)", kString, func(c *Config) any { return &c.DevTime }},
	{"dev-evidence-time", "with --dev: RFC 3339 instant the evidence and collateral clock starts at, to replay recorded evidence; tokens, management responses and certificates keep the real clock", kString, func(c *Config) any { return &c.DevEvidenceTime }},
	{"key-release-trusted-issuer", "attestation service URL (Azure Attestation or another Maat) whose tokens may release keys from /x-maat/keys, besides this instance (repeatable)", kList, func(c *Config) any { return &c.KeyReleaseIssuers }},
	{"dev-trust-simulated-evidence", "with --dev: trust SGX/OpenEnclave/TDX/SEV-SNP evidence from `maat simulate` (signed by the data directory's development PKI); tokens are marked x-maat-simulated-evidence. Ignored without --dev", kBool, func(c *Config) any { return &c.DevTrustSimulatedEvidence }},
}

// RegisterFlags adds one flag per option to fs (plus --config), with the
// defaults as shown values.
func RegisterFlags(fs *pflag.FlagSet) {
	d := Default()
	fs.String("config", "", "YAML configuration file (env MAAT_CONFIG)")
	for _, o := range options {
		usage := o.usage + " (env " + o.env() + ")"
		switch p := o.ptr(&d).(type) {
		case *string:
			fs.String(o.key, *p, usage)
		case *bool:
			fs.Bool(o.key, *p, usage)
		case *time.Duration:
			fs.Duration(o.key, *p, usage)
		case *int64:
			fs.Int64(o.key, *p, usage)
		case *[]string:
			fs.StringSlice(o.key, *p, usage)
		}
	}
}

// Load builds a Config from defaults, the YAML file named by --config or
// MAAT_CONFIG, the environment (lookupEnv, as os.LookupEnv; os.LookupEnv
// when nil) and the flags the user set. A variable that is set but empty
// counts as set: MAAT_HTTPS_ADDR= disables HTTPS, as https-addr: "" does.
// It returns every malformed value and unknown file key at once (joined),
// each naming its source and key, with a "did you mean" for near misses; it
// does not validate (call Validate).
func Load(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) (Config, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	c := Default()
	var errs []error
	path, _ := lookupEnv("MAAT_CONFIG")
	if f := fs.Lookup("config"); f != nil && f.Changed {
		path = f.Value.String()
	}
	if path != "" {
		errs = append(errs, loadFile(&c, path)...)
	}
	for _, o := range options {
		if v, ok := lookupEnv(o.env()); ok {
			if err := set(o, &c, v); err != nil {
				errs = append(errs, fmt.Errorf("environment %s: %w", o.env(), err))
			}
		}
	}
	for _, o := range options {
		f := fs.Lookup(o.key)
		if f == nil || !f.Changed {
			continue
		}
		if err := set(o, &c, f.Value.String()); err != nil {
			errs = append(errs, fmt.Errorf("flag --%s: %w", o.key, err))
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// suggest returns ` (did you mean "k"?)` for the known key closest to key,
// or "" when none is close.
func suggest(key string) string {
	best, bestD := "", 4
	for _, o := range options {
		if d := editDistance(key, o.key); d < bestD {
			best, bestD = o.key, d
		}
	}
	if best == "" {
		for _, o := range options {
			if strings.Contains(o.key, key) || strings.Contains(key, o.key) {
				best = o.key
				break
			}
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func set(o option, c *Config, v string) error {
	switch p := o.ptr(c).(type) {
	case *string:
		*p = v
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not a boolean", v)
		}
		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 15s, 1m)", v)
		}
		*p = d
	case *int64:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		*p = n
	case *[]string:
		*p = splitList(v)
	}
	return nil
}

// splitList splits a comma-separated list, dropping blanks; pflag renders
// string slices as "[a,b]", which is accepted too.
func splitList(v string) []string {
	v = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	var out []string
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func loadFile(c *Config, path string) []error {
	b, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("config file: %w", err)}
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file
		}
		return []error{fmt.Errorf("config file %s: %w", path, err)}
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return []error{fmt.Errorf("config file %s: line %d: the top level must be a mapping of key: value", path, root.Line)}
	}
	byKey := map[string]option{}
	for _, o := range options {
		byKey[o.key] = o
	}
	var errs []error
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		o, ok := byKey[k.Value]
		if !ok {
			errs = append(errs, fmt.Errorf("config file %s: line %d: unknown key %q%s", path, k.Line, k.Value, suggest(k.Value)))
			continue
		}
		if list, ok := o.ptr(c).(*[]string); ok && v.Kind == yaml.SequenceNode {
			var items []string
			bad := false
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					errs = append(errs, fmt.Errorf("config file %s: line %d: key %q must be a list of values", path, item.Line, k.Value))
					bad = true
					break
				}
				items = append(items, item.Value)
			}
			if !bad {
				*list = items
			}
			continue
		}
		if v.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("config file %s: line %d: key %q must be a single value", path, v.Line, k.Value))
			continue
		}
		if err := set(o, c, v.Value); err != nil {
			errs = append(errs, fmt.Errorf("config file %s: line %d: key %q: %w", path, v.Line, k.Value, err))
		}
	}
	return errs
}

// Validate checks c and returns every problem found (joined), each naming
// its key. It does not change c.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.HTTPSAddr == "" && c.HTTPAddr == "" {
		bad("https-addr", "no listener: set https-addr and/or http-addr")
	}
	if c.Pprof && c.MetricsAddr == "" {
		bad("pprof", "pprof is served on the admin listener: set metrics-addr too")
	}
	for _, kv := range [][2]string{{"https-addr", c.HTTPSAddr}, {"http-addr", c.HTTPAddr}, {"metrics-addr", c.MetricsAddr}} {
		key, addr := kv[0], kv[1]
		if addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(addr); err != nil {
			bad(key, "%q is not host:port (%v)", addr, err)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			bad(key, "%q has an invalid port", addr)
		}
	}
	if c.HTTPSAddr != "" && !c.Dev && (c.TLSCert == "" || c.TLSKey == "") {
		bad("tls-cert", "HTTPS needs tls-cert and tls-key (or --dev for a generated certificate)")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls-key", "tls-cert and tls-key go together")
	}
	fileOK := map[string]bool{}
	for _, kv := range [][2]string{{"tls-cert", c.TLSCert}, {"tls-key", c.TLSKey}, {"key-encryption-key-file", c.KeyEncryption}} {
		key, p := kv[0], kv[1]
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err != nil {
			bad(key, "%v", err)
		} else if st.IsDir() {
			bad(key, "%s is a directory", p)
		} else {
			fileOK[key] = true
		}
	}
	if fileOK["tls-cert"] && fileOK["tls-key"] {
		// Load the pair now, so a bad certificate stops the server before
		// it creates any state.
		if _, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey); err != nil {
			bad("tls-cert", "%s and %s are not a PEM certificate and its private key: %v", c.TLSCert, c.TLSKey, err)
		}
	}
	switch c.TokenSigner {
	case "", "auto", "go", "openssl": // "" is auto, for configs not built from Default
	default:
		bad("token-signer", "%q is not auto, go or openssl", c.TokenSigner)
	}
	if c.Store != "" && !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") {
		bad("store", "must be a postgres:// or postgresql:// DSN (or empty for the embedded SQLite store)")
	}
	if c.StoreSchema != "" && c.Store == "" {
		bad("store-schema", "only applies to a PostgreSQL store")
	}
	switch {
	case c.AllowPlaintextKeys && c.Store == "":
		bad("allow-plaintext-keys", "only applies to a PostgreSQL store (with SQLite a key-encryption key is generated in the data directory)")
	case c.AllowPlaintextKeys && c.KeyEncryption != "":
		bad("allow-plaintext-keys", "contradicts key-encryption-key-file; drop one of them")
	case c.Store != "" && c.KeyEncryption == "" && !c.AllowPlaintextKeys:
		bad("key-encryption-key-file", "required with a PostgreSQL store, so that the signing keys in the shared database are sealed: give every replica the same 32-byte key file (e.g. `maat keys generate-kek FILE`), or set allow-plaintext-keys to store them unencrypted")
	}
	if c.TLSMinVersion != "1.2" && c.TLSMinVersion != "1.3" {
		bad("tls-min-version", "%q is not 1.2 or 1.3", c.TLSMinVersion)
	}
	if c.DataDir == "" {
		bad("data", "must not be empty")
	}
	if c.Issuer != "" {
		u, err := url.Parse(c.Issuer)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("issuer", "%q must be an absolute http(s) URL without query or fragment", c.Issuer)
		} else if strings.HasSuffix(c.Issuer, "/") {
			bad("issuer", "%q must not end with a slash (jku is issuer + \"/certs\")", c.Issuer)
		}
	}
	if c.Mode != "aad" && c.Mode != "isolated" {
		bad("mode", "%q is not aad or isolated", c.Mode)
	}
	if c.Mode == "isolated" && len(c.PolicyMgmtCerts) == 0 && c.Store == "" && c.DataDir != "" {
		// On first start an Isolated instance needs its initial
		// certificates; later they are in the store.
		if _, err := os.Stat(filepath.Join(c.DataDir, "maat.db")); err != nil {
			bad("policy-management-cert", "Isolated mode needs at least one policy management certificate on first start (%s holds no instance yet)", c.DataDir)
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log-format", "%q is not text or json", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	if c.MaxStaleness < 0 {
		bad("max-staleness", "must not be negative")
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown-timeout", "must be positive")
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 64<<20 {
		bad("max-body-bytes", "%d is outside 1024..67108864", c.MaxBodyBytes)
	}
	for _, st := range c.AcceptTCBStatus {
		if !slices.Contains(knownTCBStatuses, st) {
			bad("accept-tcb-status", "%q is not a TCB status (%s)", st, strings.Join(knownTCBStatuses, ", "))
		}
	}
	if len(c.AcceptTCBStatus) == 0 {
		bad("accept-tcb-status", "must name at least one status")
	}
	for _, st := range c.TDXAcceptTCB {
		if !slices.Contains(knownTCBStatuses, st) || st == "Revoked" {
			bad("accept-tdx-tcb-status", "%q is not an acceptable TCB status (%s)", st, strings.Join(knownTCBStatuses[:len(knownTCBStatuses)-1], ", "))
		}
	}
	if len(c.TDXAcceptTCB) == 0 {
		bad("accept-tdx-tcb-status", "must name at least one status")
	}
	for _, l := range []struct {
		key  string
		vals []string
	}{{"tdx-compliant-mrseam", c.TDXCompliantMRSEAM}, {"tdx-compliant-mrtd", c.TDXCompliantMRTD}} {
		for _, v := range l.vals {
			if b, err := hex.DecodeString(v); err != nil || len(b) != 48 {
				bad(l.key, "%q is not a 48-byte measurement in hex (96 hex digits)", v)
			}
		}
	}
	if len(c.TDXCompliantMRSEAM) > 0 && len(c.TDXCompliantMRTD) == 0 {
		bad("tdx-compliant-mrtd", "must list the TD images (MRTD) to call compliant when tdx-compliant-mrseam is set: a TDX module alone vouches for every TD on it")
	}
	if c.TDXUnmatched != "reject" && c.TDXUnmatched != "out-of-date" {
		bad("tdx-unmatched-tcb-level", "%q is neither reject nor out-of-date", c.TDXUnmatched)
	}
	if c.Offline && c.CollateralDir == "" {
		bad("offline", "offline mode needs collateral-dir")
	}
	if c.CollateralURL != "" {
		if u, err := url.Parse(c.CollateralURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("collateral-url", "%q must be an absolute http(s) URL", c.CollateralURL)
		}
	}
	if p := c.CollateralDir; p != "" {
		if st, err := os.Stat(p); err != nil {
			bad("collateral-dir", "%v", err)
		} else if !st.IsDir() {
			bad("collateral-dir", "%s is not a directory", p)
		}
	}
	if c.CollateralCA != "" {
		if _, err := os.Stat(c.CollateralCA); err != nil {
			bad("collateral-ca", "%v", err)
		}
	}
	for _, kv := range [][]string{append([]string{"policy-management-cert"}, c.PolicyMgmtCerts...), append([]string{"tpm-aik-root"}, c.TPMAIKRoots...)} {
		for _, p := range kv[1:] {
			if _, err := os.Stat(p); err != nil {
				bad(kv[0], "%v", err)
			}
		}
	}
	switch c.SevSnpCRL {
	case "off", "soft", "hard":
	default:
		bad("sevsnp-crl", "%q is not off, soft or hard", c.SevSnpCRL)
	}
	for key, u := range map[string]string{"sevsnp-kds-url": c.SevSnpKDSURL, "sevsnp-thim-url": c.SevSnpTHIMURL} {
		if u == "" {
			continue
		}
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			bad(key, "%q must be an absolute http(s) URL", u)
		}
	}
	for _, kv := range [][2]string{{"dev-time", c.DevTime}, {"dev-evidence-time", c.DevEvidenceTime}} {
		key, v := kv[0], kv[1]
		if v == "" {
			continue
		}
		if !c.Dev {
			bad(key, "only allowed with --dev")
		} else if _, err := time.Parse(time.RFC3339, v); err != nil {
			bad(key, "%q is not an RFC 3339 time (e.g. 2025-06-01T00:00:00Z)", v)
		}
	}
	if c.DevTime != "" && c.DevEvidenceTime != "" {
		bad("dev-evidence-time", "set dev-time (pins every clock) or dev-evidence-time (pins only evidence verification), not both")
	}
	if c.OIDCIssuer != "" {
		if u, err := url.Parse(c.OIDCIssuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("oidc-issuer", "%q must be an absolute https URL", c.OIDCIssuer)
		} else if u.Scheme == "http" && !IsLoopbackHost(u.Hostname()) {
			bad("oidc-issuer", "%q uses plain HTTP: the signing keys of management tokens would travel unauthenticated; use https (plain HTTP is allowed only on loopback)", c.OIDCIssuer)
		}
		if c.OIDCAudience == "" {
			bad("oidc-audience", "required with oidc-issuer")
		}
	}
	if c.DevBearerToken != "" && !c.Dev {
		bad("dev-bearer-token", "only allowed with --dev")
	}
	return errors.Join(errs...)
}

var knownTCBStatuses = []string{"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded",
	"OutOfDate", "OutOfDateConfigurationNeeded", "Revoked"}

// IsLoopback reports whether addr's host is a loopback address or
// "localhost". An empty host (all interfaces) is not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	return IsLoopbackHost(host)
}

// IsLoopbackHost reports whether host (no port) is "localhost" or a
// loopback IP address.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
