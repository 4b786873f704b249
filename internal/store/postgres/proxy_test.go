package postgres

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/store"
)

// tcpProxy forwards a local port to PostgreSQL and can be taken down (all
// connections cut, new ones refused) and brought back up on the same port,
// which is what clients see when PostgreSQL restarts or fails over.
type tcpProxy struct {
	t      *testing.T
	addr   string // 127.0.0.1:port, stable across down/up
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *tcpProxy) pipe(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // went down meanwhile
		p.mu.Unlock()
		c.Close()
		s.Close()
		return
	}
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { io.Copy(s, c); s.Close(); c.Close() }()
	io.Copy(c, s)
	c.Close()
	s.Close()
}

// down closes the listener and cuts every proxied connection.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *tcpProxy) up() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy up: %v", err)
	}
	p.serve(ln)
}

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
	proxy := newTCPProxy(t, target)
	u.Host = proxy.addr
	viaProxy := openStore(t, u.String(), schema)
	if err := direct.CreateInstance(ctx, store.Instance{ID: "i", Issuer: "x", Mode: store.ModeAAD}); err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, viaProxy)
	w.waitFor(t, 10*time.Second, "initial resync", func() bool { c, _ := w.state("i"); return c > 0 })

	proxy.down()
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
	proxy.up()
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
