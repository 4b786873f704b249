package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/maat-attest/maat/internal/app"
	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/jose"
)

// TestAuditList: management calls against a running server, and a key
// rotation by the CLI, show up in `maat audit list` (JSON and text, with
// filters), read from the same data directory or PostgreSQL schema.
func TestAuditList(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { auditListScenario(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		dsn := os.Getenv("MAAT_TEST_POSTGRES_DSN")
		if dsn == "" {
			t.Skip("MAAT_TEST_POSTGRES_DSN not set")
		}
		b := make([]byte, 6)
		rand.Read(b)
		schema := "maat_auditcli_" + hex.EncodeToString(b)
		t.Cleanup(func() {
			if conn, err := pgx.Connect(context.Background(), dsn); err == nil {
				conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
				conn.Close(context.Background())
			}
		})
		kek := filepath.Join(t.TempDir(), "kek")
		k := make([]byte, 32)
		rand.Read(k)
		os.WriteFile(kek, []byte(hex.EncodeToString(k)), 0o600)
		auditListScenario(t, []string{"--store", dsn, "--store-schema", schema, "--key-encryption-key-file", kek})
	})
}

// auditListScenario runs the scenario on SQLite (storeArgs nil) or on the
// PostgreSQL store the args name (--store, --store-schema, --key-encryption-key-file).
func auditListScenario(t *testing.T, storeArgs []string) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Dev, cfg.DataDir = true, dir
	cfg.HTTPSAddr, cfg.HTTPAddr = "", "127.0.0.1:0"
	cfg.DevBearerToken = "audit-test-token"
	cfg.ShutdownTimeout = 5 * time.Second
	for i := 0; i+1 < len(storeArgs); i += 2 {
		switch storeArgs[i] {
		case "--store":
			cfg.Store = storeArgs[i+1]
		case "--store-schema":
			cfg.StoreSchema = storeArgs[i+1]
		case "--key-encryption-key-file":
			cfg.KeyEncryption = storeArgs[i+1]
		}
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	text := "version=1.0; authorizationrules{ => permit(); }; issuancerules{};"
	p, _ := json.Marshal(map[string]string{"AttestationPolicy": jose.B64.EncodeToString([]byte(text))})
	good := "eyJhbGciOiJub25lIn0." + jose.B64.EncodeToString(p) + "."
	put := func(bearer, body string) string {
		req, _ := http.NewRequest("PUT", "http://"+a.HTTPAddr()+"/policies/SgxEnclave?api-version=2022-08-01", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("x-ms-request-id")
	}
	okID := put("audit-test-token", good)
	badID := put("not-the-token", good)

	if _, _, err := runCmd(t, NewRootCommand(), append([]string{"keys", "rotate", "--data", dir}, storeArgs...)...); err != nil {
		t.Fatalf("keys rotate: %v", err)
	}

	out, _, err := runCmd(t, NewRootCommand(), append([]string{"audit", "list", "--data", dir, "--json"}, storeArgs[:min(4, len(storeArgs))]...)...)
	if err != nil {
		t.Fatalf("audit list: %v", err)
	}
	var recs []auditJSON
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("audit list --json: %v in %s", err, out)
	}
	if len(recs) != 3 {
		t.Fatalf("audit list: %d records, want 3: %s", len(recs), out)
	}
	if r := recs[0]; r.Operation != "policy.set" || r.Result != "ok" || r.RequestID != okID || r.Caller.Kind != "dev-token" || r.AttestationType != "SgxEnclave" || r.After == "" {
		t.Errorf("record 0: %+v", r)
	}
	if r := recs[1]; r.Operation != "policy.set" || r.Result != "Unauthorized" || r.RequestID != badID || r.Caller.Kind != "unauthenticated" || r.Message == "" {
		t.Errorf("record 1: %+v", r)
	}
	if r := recs[2]; r.Operation != "key.rotate" || r.Result != "ok" || r.Caller.Kind != "local" || r.Before == "" || r.After == "" || r.Before == r.After {
		t.Errorf("record 2: %+v", r)
	}

	out, _, err = runCmd(t, NewRootCommand(), append([]string{"audit", "list", "--data", dir, "--result", "failed", "--since", "1h"}, storeArgs[:min(4, len(storeArgs))]...)...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "Unauthorized") || !strings.Contains(lines[1], badID) {
		t.Errorf("audit list --result failed:\n%s", out)
	}
	if _, _, err := runCmd(t, NewRootCommand(), "audit", "list", "--data", dir, "--since", "yesterday"); err == nil || !strings.Contains(err.Error(), "--since") {
		t.Errorf("bad --since: %v", err)
	}
}
