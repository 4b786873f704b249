package app

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/config"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
	"github.com/maat-attest/maat/internal/testutil/tcpproxy"
)

// TestDatabaseOutage: a replica whose PostgreSQL goes away keeps attesting
// from memory (no 5xx), refuses management with 503 in MAA's envelope,
// reports not ready, and recovers by itself when the database returns.
func TestDatabaseOutage(t *testing.T) {
	cfg, proxy := proxiedReplicaConfig(t)
	r := start(t, cfg)
	base := "http://" + r.app.HTTPAddr()
	attest := attester(t, base)
	if got := attest(); got.status != 200 {
		t.Fatalf("before the outage: %d %s", got.status, got.code)
	}

	// Load runs across the outage.
	stop := make(chan struct{})
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if got := attest(); got.status == 200 {
					ok.Add(1)
				} else {
					bad.Add(1)
					t.Errorf("attestation during the outage: %d %s %s", got.status, got.code, got.message)
				}
			}
		}()
	}

	proxy.Down()
	time.Sleep(300 * time.Millisecond)
	pol := unsignedPolicy("version=1.0; authorizationrules{ => permit(); }; issuancerules{};")
	if got := sendAuth(t, base, "PUT", "/policies/OpenEnclave?api-version=2022-08-01", []byte(pol), true); got.status != 503 || got.code != "ServiceUnavailable" {
		t.Errorf("management while the database is down: %d %s; want 503 ServiceUnavailable", got.status, got.code)
	}
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/readyz while the database is down: %d", resp.StatusCode)
	}
	time.Sleep(time.Second)
	proxy.Up()

	// Management recovers by itself.
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := sendAuth(t, base, "PUT", "/policies/OpenEnclave?api-version=2022-08-01", []byte(pol), true)
		if got.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("management did not recover: %d %s", got.status, got.code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("attestations across the outage: %d ok, %d failed", ok.Load(), bad.Load())
	if ok.Load() == 0 {
		t.Fatal("no attestation ran during the outage")
	}
}

// TestMaxStaleness: with max-staleness set, a replica whose database stays
// away longer than the bound refuses attestation with 503 instead of
// attesting from ever older state, and resumes when the database returns.
func TestMaxStaleness(t *testing.T) {
	cfg, proxy := proxiedReplicaConfig(t)
	cfg.MaxStaleness = 2 * time.Second
	r := start(t, cfg)
	base := "http://" + r.app.HTTPAddr()
	attest := attester(t, base)
	if got := attest(); got.status != 200 { // warms the policy cache
		t.Fatalf("before the outage: %d %s", got.status, got.code)
	}
	proxy.Down()
	if got := attest(); got.status != 200 {
		t.Fatalf("right after the outage began: %d %s", got.status, got.code)
	}
	time.Sleep(4 * time.Second)
	if got := attest(); got.status != 503 || got.code != "ServiceUnavailable" {
		t.Fatalf("after the staleness bound: %d %s", got.status, got.code)
	}
	proxy.Up()
	deadline := time.Now().Add(15 * time.Second)
	for attest().status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("attestation did not resume after the database returned")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// proxiedReplicaConfig is a replica configuration whose PostgreSQL
// connections go through a proxy the test can take down.
func proxiedReplicaConfig(t *testing.T) (config.Config, *tcpproxy.Proxy) {
	dsn, schema := pgSchema(t)
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Skip("needs a URL-form MAAT_TEST_POSTGRES_DSN")
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	proxy := tcpproxy.New(t, target)
	u.Host = proxy.Addr
	return replicaConfig(t, u.String(), schema), proxy
}

// attester returns a function that attests the C++ SDK's OE report.
func attester(t *testing.T, base string) func() reply {
	report := readB64(t, sgxvectors.Path("maa", "openenclave_report.b64url"))
	body, _ := json.Marshal(map[string]any{"report": b64url(report)})
	return func() reply {
		return sendAuth(t, base, "POST", "/attest/OpenEnclave?api-version=2022-08-01", body, false)
	}
}
