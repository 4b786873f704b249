package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/maat-attest/maat/internal/config"
)

const deployDir = "../../deploy"

// loadConfig is `maat serve`'s configuration step: flags registered, args
// parsed, file + (empty) environment + flags merged, then validated unless
// parseOnly (validation also checks that the files it names exist).
func loadConfig(t *testing.T, parseOnly bool, args ...string) (config.Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(fs, func(string) (string, bool) { return "", false })
	if err != nil || parseOnly {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// hostFiles are flags pointing the example configurations' host paths (TLS
// pair, KEK, data) at files made here.
func hostFiles(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	tc := newTestCert(t, "maat deploy", time.Now().Add(24*time.Hour))
	os.WriteFile(filepath.Join(dir, "tls.crt"), tc.certPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "tls.key"), tc.keyPEM, 0o600)
	return []string{"--tls-cert", filepath.Join(dir, "tls.crt"), "--tls-key", filepath.Join(dir, "tls.key"),
		"--data", filepath.Join(dir, "data"), "--key-encryption-key-file", sharedKEKFile(t, "deploy")}
}

// TestDeployExampleConfig: deploy/maat.yaml is accepted by `maat serve
// --config`, and a server started from it (host paths and addresses
// overridden by flags, as an operator's environment would) becomes ready on
// its admin listener and serves HTTPS.
func TestDeployExampleConfig(t *testing.T) {
	file := filepath.Join(deployDir, "maat.yaml")
	cfg, err := loadConfig(t, true, "--config", file)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if cfg.HTTPSAddr != "0.0.0.0:8443" || cfg.MetricsAddr != "0.0.0.0:9090" || cfg.Mode != "aad" || cfg.LogFormat != "json" || cfg.KeyEncryption == "" || cfg.OIDCIssuer == "" {
		t.Fatalf("%s read as %+v", file, cfg)
	}

	// An OIDC provider on loopback stands in for the example's Entra ID.
	var idp *httptest.Server
	idp = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": idp.URL, "jwks_uri": idp.URL + "/jwks", "keys": []any{}})
	}))
	defer idp.Close()
	cfg, err = loadConfig(t, false, append([]string{"--config", file, "--https-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
		"--oidc-issuer", idp.URL}, hostFiles(t)...)...)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatalf("serve with %s: %v", file, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	resp, err := http.Get("http://" + a.AdminAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"status":"ready"`) {
		t.Fatalf("admin /readyz: %d %s", resp.StatusCode, b)
	}
}

// yamlDocs parses every YAML document of path.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, len(docs)+1, err)
		}
		docs = append(docs, d)
	}
}

func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

// TestDeployManifests: the Kubernetes manifests and compose.yaml parse, hold
// what the issue asks for (Deployment with probes on the admin listener,
// Services, ConfigMap, KEK Secret, PodDisruptionBudget; PostgreSQL and two
// replicas), and the configuration they embed is accepted by serve. No
// cluster or container engine runs them here.
func TestDeployManifests(t *testing.T) {
	kinds := map[string]map[string]any{}
	for _, d := range yamlDocs(t, filepath.Join(deployDir, "kubernetes", "maat.yaml")) {
		k, _ := d["kind"].(string)
		name, _ := dig(d, "metadata", "name").(string)
		if k == "" || name == "" || d["apiVersion"] == nil {
			t.Fatalf("manifest without kind/name/apiVersion: %v", d)
		}
		kinds[k+"/"+name] = d
	}
	for _, want := range []string{"Deployment/maat", "Service/maat", "Service/maat-admin", "ConfigMap/maat-config", "Secret/maat-kek", "PodDisruptionBudget/maat"} {
		if kinds[want] == nil {
			t.Errorf("deploy/kubernetes lacks %s", want)
		}
	}
	dep := kinds["Deployment/maat"]
	c := dig(dep, "spec", "template", "spec", "containers", 0)
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"} {
		if dig(c, probe, "httpGet", "path") != path || dig(c, probe, "httpGet", "port") != "admin" {
			t.Errorf("Deployment %s: %v, want %s on the admin port", probe, dig(c, probe), path)
		}
	}
	if dig(dep, "spec", "template", "spec", "securityContext", "runAsNonRoot") != true || dig(c, "securityContext", "readOnlyRootFilesystem") != true {
		t.Error("Deployment must run as non-root with a read-only root filesystem")
	}
	embedded, _ := dig(kinds["ConfigMap/maat-config"], "data", "maat.yaml").(string)
	p := filepath.Join(t.TempDir(), "maat.yaml")
	os.WriteFile(p, []byte(embedded), 0o644)
	if cfg, err := loadConfig(t, false, append([]string{"--config", p}, hostFiles(t)...)...); err != nil || cfg.MetricsAddr != "0.0.0.0:9090" {
		t.Errorf("the ConfigMap's maat.yaml: %v (%+v)", err, cfg)
	}

	compose := yamlDocs(t, filepath.Join(deployDir, "..", "compose.yaml"))
	if len(compose) != 1 {
		t.Fatalf("compose.yaml: %d documents", len(compose))
	}
	for _, svc := range []string{"postgres", "maat-1", "maat-2"} {
		if dig(compose[0], "services", svc) == nil {
			t.Errorf("compose.yaml lacks service %s", svc)
		}
	}
	for _, svc := range []string{"maat-1", "maat-2"} {
		dsn, _ := dig(compose[0], "services", svc, "environment", "MAAT_STORE").(string)
		if !strings.HasPrefix(dsn, "postgres://") {
			t.Errorf("compose %s: MAAT_STORE %q, want the shared PostgreSQL store", svc, dsn)
		}
	}
}

// TestSystemdUnit: the unit passes systemd-analyze verify and its security
// exposure stays low (skipped without systemd-analyze).
func TestSystemdUnit(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	b, err := os.ReadFile(filepath.Join(deployDir, "systemd", "maat.service"))
	if err != nil {
		t.Fatal(err)
	}
	// verify wants the ExecStart binary to exist.
	unit := filepath.Join(t.TempDir(), "maat.service")
	os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/maat", "/bin/true")), 0o644)
	if out, err := exec.Command(sa, "verify", unit).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command(sa, "security", "--offline=yes", "--threshold=20", unit).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security (threshold 2.0): %v\n%s", err, out)
	}
}
