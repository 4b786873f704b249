package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/maat-attest/maat/internal/attestation"
	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/policy"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
)

// pgConfig returns a replica configuration on a fresh PostgreSQL schema,
// skipping when MAAT_TEST_POSTGRES_DSN is not set.
func pgSchema(t *testing.T) (dsn, schema string) {
	t.Helper()
	dsn = os.Getenv("MAAT_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("MAAT_TEST_POSTGRES_DSN not set; skipping PostgreSQL replica tests")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema = "maat_replicas_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			conn.Close(context.Background())
		}
	})
	return dsn, schema
}

func replicaConfig(t *testing.T, dsn, schema string) config.Config {
	cfg := replayConfig(t, "aad")
	cfg.Store, cfg.StoreSchema = dsn, schema
	cfg.KeyEncryption = sharedKEKFile(t, schema)
	cfg.Issuer = "https://maat.replicas.example"
	return cfg
}

// sharedKEKFile writes the key-encryption key every replica of one schema
// shares (derived from the schema name, so each replica's copy is the same)
// into a file of the test's own, mode 0600.
func sharedKEKFile(t *testing.T, schema string) string {
	t.Helper()
	sum := sha256.Sum256([]byte("test KEK for " + schema))
	p := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(p, []byte(hex.EncodeToString(sum[:])), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReplicasShareState runs three replicas on one empty PostgreSQL
// schema, started together: they agree on one signing key, and a policy set
// through one replica is used by the others' next attestations within a
// second (the measured delay is logged).
func TestReplicasShareState(t *testing.T) {
	dsn, schema := pgSchema(t)
	var wg sync.WaitGroup
	reps := make([]*running, 3)
	for i := range reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i] = start(t, replicaConfig(t, dsn, schema))
		}()
	}
	wg.Wait()
	var first []string
	for i, r := range reps {
		var set struct {
			Keys []struct {
				KID string `json:"kid"`
			} `json:"keys"`
		}
		getJSON(t, http.DefaultClient, "http://"+r.app.HTTPAddr()+"/certs", &set)
		var ks []string
		for _, k := range set.Keys {
			ks = append(ks, k.KID)
		}
		if len(ks) != 1 {
			t.Fatalf("replica %d publishes %v; want exactly one key", i, ks)
		}
		if i == 0 {
			first = ks
		} else if !reflect.DeepEqual(ks, first) {
			t.Fatalf("replica %d publishes %v, replica 0 %v", i, ks, first)
		}
	}

	report := readB64(t, sgxvectors.Path("maa", "openenclave_report.b64url"))
	attest := func(r *running) string {
		b, _ := json.Marshal(map[string]any{"report": b64url(report)})
		got := sendAuth(t, "http://"+r.app.HTTPAddr(), "POST", "/attest/OpenEnclave?api-version=2022-08-01", b, false)
		if got.status != 200 {
			t.Fatalf("attest: %d %s %s", got.status, got.code, got.message)
		}
		return got.claims["x-ms-policy-hash"].(string)
	}
	for _, r := range reps {
		if h := attest(r); h != policy.DefaultSGXPolicyHash {
			t.Fatalf("initial policy hash %s", h)
		}
	}
	text := "version=1.0; authorizationrules{ => permit(); }; issuancerules{ => issue(type=\"replicated\", value=true); };"
	set := sendAuth(t, "http://"+reps[0].app.HTTPAddr(), "PUT", "/policies/OpenEnclave?api-version=2022-08-01", []byte(unsignedPolicy(text)), true)
	if set.status != 200 {
		t.Fatalf("set policy: %d %s", set.status, set.code)
	}
	setAt := time.Now()
	want := policy.Hash(text)
	for i, r := range reps[1:] {
		for attest(r) != want {
			if time.Since(setAt) > 5*time.Second {
				t.Fatalf("replica %d still uses the old policy after 5 s", i+1)
			}
			time.Sleep(10 * time.Millisecond)
		}
		d := time.Since(setAt)
		t.Logf("replica %d uses the new policy %v after the set", i+1, d.Round(time.Millisecond))
		if d > time.Second {
			t.Errorf("propagation to replica %d took %v, want ≤ 1 s", i+1, d)
		}
	}

	// Rotation on one replica is published by all.
	k, err := reps[2].app.Keys().Rotate(context.Background(), reps[2].app.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for _, r := range reps {
		for {
			var set struct {
				Keys []struct {
					KID string `json:"kid"`
				} `json:"keys"`
			}
			getJSON(t, http.DefaultClient, "http://"+r.app.HTTPAddr()+"/certs", &set)
			if len(set.Keys) == 2 && set.Keys[0].KID == k.KID {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("rotation not seen by a replica: %+v", set)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func b64url(b []byte) string { return jose.B64.EncodeToString(b) }

// TestConcurrentSetsOnTwoReplicas: policy sets racing on two replicas all
// succeed (optimistic concurrency retries), each response's
// x-ms-policy-token-hash is that of the JWS its request carried, and both
// replicas end up serving the same, last-stored policy.
func TestConcurrentSetsOnTwoReplicas(t *testing.T) {
	dsn, schema := pgSchema(t)
	a := start(t, replicaConfig(t, dsn, schema))
	b := start(t, replicaConfig(t, dsn, schema))
	var wg sync.WaitGroup
	for ri, r := range []*running{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				text := "version=1.0; authorizationrules{ => permit(); }; issuancerules{ => issue(type=\"r\", value=" + string(rune('0'+ri)) + string(rune('0'+i)) + "); };"
				jws := unsignedPolicy(text)
				got := sendAuth(t, "http://"+r.app.HTTPAddr(), "PUT", "/policies/SgxEnclave?api-version=2022-08-01", []byte(jws), true)
				if got.status != 200 || got.claims["x-ms-policy-token-hash"] != attestation.TokenHash(jws) {
					t.Errorf("replica %d set %d: %d %s, hash %v", ri, i, got.status, got.code, got.claims["x-ms-policy-token-hash"])
				}
			}
		}()
	}
	wg.Wait()
	policyOf := func(r *running) string {
		got := sendAuth(t, "http://"+r.app.HTTPAddr(), "GET", "/policies/SgxEnclave?api-version=2022-08-01", nil, true)
		if got.status != 200 {
			t.Fatalf("get: %d %s", got.status, got.code)
		}
		return got.claims["x-ms-policy"].(string)
	}
	deadline := time.Now().Add(3 * time.Second)
	for policyOf(a) != policyOf(b) {
		if time.Now().After(deadline) {
			t.Fatal("replicas serve different policies after the race")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
