package postgres

import (
	"context"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/store"
	"github.com/maat-attest/maat/internal/testutil/tcpproxy"
)

// The database disappears (connections cut, new ones refused) and comes
// back: calls fail while it is away instead of hanging, and afterwards the
// pool and Watch recover by themselves; a change made while Watch was
// disconnected is reported by its resync.
func TestRecoversFromDatabaseOutage(t *testing.T) {
	dsn := testDSN(t)
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		t.Skip("test needs a URL-form MAAT_TEST_POSTGRES_DSN with a host")
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	ctx := context.Background()
	schema := freshSchema(t, dsn)
	direct := openStore(t, dsn, schema)
	proxy := tcpproxy.New(t, target)
	u.Host = proxy.Addr
	viaProxy := openStore(t, u.String(), schema)
	if err := direct.CreateInstance(ctx, store.Instance{ID: "i", Issuer: "x", Mode: store.ModeAAD}); err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, viaProxy)
	w.waitFor(t, 10*time.Second, "initial resync", func() bool { c, _ := w.state("i"); return c > 0 })

	proxy.Down()
	downAt := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = viaProxy.GetInstance(cctx, "i")
	cancel()
	if err == nil {
		t.Fatal("GetInstance succeeded while the database was unreachable")
	}
	t.Logf("while down, GetInstance failed after %v: %v", time.Since(downAt), err)
	if err := direct.AddPolicyCertificate(ctx, store.PolicyCertificate{InstanceID: "i", Thumbprint: "AA", DER: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	want, _ := direct.Generation(ctx, "i")
	time.Sleep(2 * time.Second) // several refused reconnects, backoff grows
	proxy.Up()
	upAt := time.Now()
	w.waitFor(t, 15*time.Second, "resync after outage", func() bool { _, g := w.state("i"); return g >= want })
	t.Logf("Watch caught up %v after the database came back (outage %v)", time.Since(upAt), upAt.Sub(downAt))
	if _, err := viaProxy.GetInstance(ctx, "i"); err != nil {
		t.Fatalf("GetInstance after the outage: %v", err)
	}
	if _, err := viaProxy.PutPolicy(ctx, store.Policy{InstanceID: "i", AttestationType: "Tpm", JWS: "x", Text: "x"}, 0); err != nil {
		t.Fatalf("PutPolicy after the outage: %v", err)
	}
	want, _ = direct.Generation(ctx, "i")
	w.waitFor(t, time.Second, "notification after the outage", func() bool { _, g := w.state("i"); return g >= want })
}
