package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/maat-attest/maat/internal/policy"
	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/internal/store/postgres"
)

// TestSIGKILLDuringPolicyWrites kills a replica (SIGKILL) while it is
// writing policies to PostgreSQL, then checks the database: the stored
// policy is one that a client set, parses, and matches its JWS; one signing
// key is active; a new replica starts on the same database and serves it.
func TestSIGKILLDuringPolicyWrites(t *testing.T) {
	dsn := os.Getenv("MAAT_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("MAAT_TEST_POSTGRES_DSN not set; skipping PostgreSQL replica tests")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "maat_kill_" + hex.EncodeToString(b)
	kek := filepath.Join(t.TempDir(), "kek") // a shared store needs a key-encryption key
	if out, stderr, code := run(t, "keys", "generate-kek", kek); code != 0 {
		t.Fatalf("keys generate-kek: %d %s %s", code, out, stderr)
	}
	args := []string{"--data", t.TempDir(), "--store", dsn, "--store-schema", schema, "--key-encryption-key-file", kek, "--dev", "--dev-bearer-token", "tok", "--issuer", "https://maat.kill.example"}
	s := startServe(t, args...)

	sent := sync.Map{} // policy text → true
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				text := fmt.Sprintf("version=1.0; authorizationrules{ => permit(); }; issuancerules{ => issue(type=\"w%d\", value=%d); };", w, i)
				sent.Store(text, true)
				p, _ := json.Marshal(map[string]string{"AttestationPolicy": base64.RawURLEncoding.EncodeToString([]byte(text))})
				jws := "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(p) + "."
				req, _ := http.NewRequestWithContext(ctx, "PUT", s.base+"/policies/SgxEnclave?api-version=2022-08-01", bytes.NewReader([]byte(jws)))
				req.Header.Set("Authorization", "Bearer tok")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
	cancel()
	wg.Wait()

	st, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t.Cleanup(func() {
		if conn, err := pgx.Connect(context.Background(), dsn); err == nil {
			conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			conn.Close(context.Background())
		}
	})
	p, err := st.GetPolicy(context.Background(), "default", "SgxEnclave")
	if err != nil {
		t.Fatalf("no policy stored after the writes: %v", err)
	}
	if _, ok := sent.Load(p.Text); !ok {
		t.Fatalf("stored policy %q was never sent", p.Text)
	}
	if _, err := policy.Parse(p.Text); err != nil {
		t.Fatalf("stored policy does not parse: %v", err)
	}
	keys, _ := st.ListSigningKeys(context.Background(), "default")
	active := 0
	for _, k := range keys {
		if k.State == store.KeyActive {
			active++
		}
	}
	if active != 1 {
		t.Fatalf("%d active keys after the kill", active)
	}
	t.Logf("stored policy version %d after SIGKILL", p.Version)

	// A new replica starts on the same database and serves the stored policy.
	s2 := startServe(t, append([]string{}, args...)...)
	req, _ := http.NewRequest("GET", s2.base+"/policies/SgxEnclave?api-version=2022-08-01", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("new replica GET policy: %d", resp.StatusCode)
	}
}
