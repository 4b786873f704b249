package collateral

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)

func read(t testing.TB, p ...string) []byte {
	t.Helper()
	b, err := sgxvectors.Read(strings.Split(filepath.ToSlash(filepath.Join(p...)), "/")...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRealDocuments(t *testing.T) {
	ti, err := ParseTCBInfo(read(t, "dcapqvl", "tcb_info.json"))
	if err != nil {
		t.Fatal(err)
	}
	if ti.Version != 3 || ti.ID != "SGX" || hex.EncodeToString(ti.FMSPC[:]) != "00a067110000" || ti.TCBEvaluationDataNumber != 17 || len(ti.Levels) != 11 {
		t.Errorf("%+v", ti)
	}
	if ti.NextUpdate != time.Date(2025, 7, 19, 10, 56, 11, 0, time.UTC) {
		t.Errorf("nextUpdate %v", ti.NextUpdate)
	}
	qe, err := ParseEnclaveIdentity(read(t, "dcapqvl", "qe_identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	if qe.ID != "QE" || qe.ISVProdID != 1 || len(qe.Levels) != 6 || qe.Levels[0].ISVSVN != 8 {
		t.Errorf("%+v", qe)
	}
	// v2 (API v3) from the teepot recording.
	var raw struct {
		TCBInfoJSON string `json:"tcb_info_json"`
	}
	if err := json.Unmarshal(read(t, "pcs2025raw", "sgx_tcb_info_00906ED50000.json"), &raw); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTCBInfo([]byte(raw.TCBInfoJSON)); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]string{
		"not json":      `{`,
		"no signature":  `{"tcbInfo":{}}`,
		"short sig":     `{"tcbInfo":{},"signature":"00"}`,
		"trailing data": `{"tcbInfo":{},"signature":"00"} x`,
	} {
		if _, err := ParseTCBInfo([]byte(b)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDir(t *testing.T) {
	d := Dir{FS: sgxvectors.MustFS("dcapqvl"), Now: func() time.Time { return t0 }}
	b, err := Get(context.Background(), d, "00a067110000", CAProcessor)
	if err != nil {
		t.Fatal(err)
	}
	if b.TCBInfo.Key.FMSPC != "00A067110000" || len(b.TCBInfo.IssuerChain) == 0 || b.RootCACRL.Body[0] != 0x30 {
		t.Errorf("bundle %+v", b.TCBInfo.Key)
	}
	if _, err := d.Fetch(context.Background(), Key{Kind: KindPCKCRL, CA: "nope"}); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad key: %v", err)
	}
	if _, err := (Dir{Path: t.TempDir()}).Fetch(context.Background(), Key{Kind: KindQEIdentity}); !errors.Is(err, ErrNotFound) {
		t.Errorf("empty dir: %v", err)
	}
}

func TestCRLToDER(t *testing.T) {
	der := read(t, "dcapqvl", "root_ca_crl.der")
	for name, in := range map[string][]byte{
		"der": der,
		"hex": []byte(hex.EncodeToString(der)),
		"pem": []byte("-----BEGIN X509 CRL-----\n" + base64.StdEncoding.EncodeToString(der) + "\n-----END X509 CRL-----\n"),
	} {
		out, err := CRLToDER(in)
		if err != nil || string(out) != string(der) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := CRLToDER([]byte("zz")); !errors.Is(err, ErrMalformed) {
		t.Errorf("garbage: %v", err)
	}
}

// pcsServer serves the real Intel PCS responses recorded by teepot in May 2025.
func pcsServer(t testing.TB, down *atomic.Bool, hits *atomic.Int64) *httptest.Server {
	var tcb struct{ IssuerChain, TCBInfoJSON string }
	var qe struct{ IssuerChain, EnclaveIdentityJSON string }
	var crl struct{ IssuerChain, CRLDataBase64 string }
	un := func(name string, v any) {
		if err := json.Unmarshal(read(t, "pcs2025raw", name), v); err != nil {
			t.Fatal(err)
		}
	}
	un("sgx_tcb_info_00906ED50000.json", &struct {
		IssuerChain *string `json:"issuer_chain"`
		TCBInfoJSON *string `json:"tcb_info_json"`
	}{&tcb.IssuerChain, &tcb.TCBInfoJSON})
	un("sgx_qe_identity.json", &struct {
		IssuerChain *string `json:"issuer_chain"`
		J           *string `json:"enclave_identity_json"`
	}{&qe.IssuerChain, &qe.EnclaveIdentityJSON})
	un("pck_crl_processor_der.json", &struct {
		IssuerChain *string `json:"issuer_chain"`
		D           *string `json:"crl_data_base64"`
	}{&crl.IssuerChain, &crl.CRLDataBase64})
	crlDER, _ := base64.StdEncoding.DecodeString(crl.CRLDataBase64)
	root := read(t, "dcapqvl", "root_ca_crl.der")
	mux := http.NewServeMux()
	mux.HandleFunc("/sgx/certification/v4/tcb", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("fmspc") != "00906ED50000" || r.URL.Query().Get("update") == "bogus" {
			w.Header().Set("Error-Message", "no such fmspc")
			http.NotFound(w, r)
			return
		}
		w.Header().Set("TCB-Info-Issuer-Chain", url.QueryEscape(tcb.IssuerChain))
		w.Write([]byte(tcb.TCBInfoJSON))
	})
	mux.HandleFunc("/sgx/certification/v4/qe/identity", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("SGX-Enclave-Identity-Issuer-Chain", url.QueryEscape(qe.IssuerChain))
		w.Write([]byte(qe.EnclaveIdentityJSON))
	})
	mux.HandleFunc("/sgx/certification/v4/pckcrl", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("ca") != "processor" || r.URL.Query().Get("encoding") != "der" {
			http.Error(w, "bad ca", http.StatusBadRequest)
			return
		}
		w.Header().Set("SGX-PCK-CRL-Issuer-Chain", url.QueryEscape(crl.IssuerChain))
		w.Write(crlDER)
	})
	mux.HandleFunc("/sgx/certification/v4/rootcacrl", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(hex.EncodeToString(root))) // PCCS serves it hex-encoded
	})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits != nil {
			hits.Add(1)
		}
		if down != nil && down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newTestPCS(t testing.TB, srv *httptest.Server) *PCS {
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	p, err := NewPCS(PCSOptions{BaseURL: srv.URL + "/sgx/certification/v4", RootCAs: pool, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPCS(t *testing.T) {
	srv := pcsServer(t, nil, nil)
	p := newTestPCS(t, srv)
	b, err := Get(context.Background(), p, "00906ed50000", CAProcessor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTCBInfo(b.TCBInfo.Body); err != nil {
		t.Error(err)
	}
	if b.PCKCRL.NextUpdate.IsZero() || len(b.PCKCRL.IssuerChain) == 0 || len(b.QEIdentity.IssuerChain) == 0 {
		t.Errorf("items incomplete")
	}
	if _, err := p.Fetch(context.Background(), Key{Kind: KindTCBInfo, FMSPC: "00A067110000"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown fmspc: %v", err)
	}
	// Without the test CA the TLS handshake fails: unavailable.
	p2, _ := NewPCS(PCSOptions{BaseURL: srv.URL + "/sgx/certification/v4"})
	if _, err := p2.Fetch(context.Background(), Key{Kind: KindQEIdentity}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("untrusted TLS: %v", err)
	}
	pe, _ := NewPCS(PCSOptions{BaseURL: srv.URL + "/sgx/certification/v4", Client: srv.Client(), Update: "early"})
	if _, err := pe.Fetch(context.Background(), Key{Kind: KindTCBInfo, FMSPC: "00906ED50000"}); err != nil {
		t.Errorf("update=early: %v", err)
	}
	if _, err := NewPCS(PCSOptions{BaseURL: srv.URL, Update: "bogus"}); err == nil {
		t.Error("bad update accepted")
	}
	if _, err := NewPCS(PCSOptions{BaseURL: "ftp://x"}); err == nil {
		t.Error("ftp base URL accepted")
	}
}

// countingSource wraps a source, counts fetches, and can fail or block.
type countingSource struct {
	src   Source
	n     atomic.Int64
	fail  atomic.Bool
	block chan struct{}
}

func (c *countingSource) Fetch(ctx context.Context, k Key) (*Item, error) {
	c.n.Add(1)
	if c.block != nil {
		<-c.block
	}
	if c.fail.Load() {
		return nil, ErrUnavailable
	}
	return c.src.Fetch(ctx, k)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func TestCache(t *testing.T) {
	ctx := context.Background()
	src := &countingSource{src: Dir{FS: sgxvectors.MustFS("dcapqvl")}}
	clk := &clock{t: t0}
	c := NewCache(src, CacheOptions{Now: clk.now, RefreshBefore: 24 * time.Hour})
	key, _ := TCBInfoKey("00A067110000")
	it, err := c.Fetch(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	next := it.NextUpdate // 2025-07-19T10:56:11Z
	if _, err := c.Fetch(ctx, key); err != nil || src.n.Load() != 1 {
		t.Fatalf("second fetch went to the source (%d)", src.n.Load())
	}

	// Source down, item still valid: served from cache, even inside the
	// refresh window (the background refresh fails and is logged).
	src.fail.Store(true)
	clk.set(next.Add(-time.Hour))
	if got, err := c.Fetch(ctx, key); err != nil || got != it {
		t.Fatalf("stale-while-down: %v", err)
	}
	waitFor(t, func() bool { return src.n.Load() == 2 })
	// Past nextUpdate with the source down: error.
	clk.set(next.Add(time.Second))
	if _, err := c.Fetch(ctx, key); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("expired and down: %v", err)
	}
	// Source back: refetched.
	src.fail.Store(false)
	before := src.n.Load()
	if _, err := c.Fetch(ctx, key); err != nil || src.n.Load() != before+1 {
		t.Fatalf("refetch: %v", err)
	}
}

func TestCacheRefreshBeforeExpiry(t *testing.T) {
	ctx := context.Background()
	src := &countingSource{src: Dir{FS: sgxvectors.MustFS("dcapqvl")}}
	clk := &clock{t: t0}
	c := NewCache(src, CacheOptions{Now: clk.now, RefreshBefore: 48 * time.Hour})
	key := Key{Kind: KindQEIdentity}
	it, err := c.Fetch(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	clk.set(it.NextUpdate.Add(-47 * time.Hour))
	if got, err := c.Fetch(ctx, key); err != nil || got != it {
		t.Fatal("refresh window should serve the cached item")
	}
	waitFor(t, func() bool { return src.n.Load() == 2 })
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.items[key] != it && c.items[key] != nil
	})
}

func TestCacheOneFetchPerKey(t *testing.T) {
	src := &countingSource{src: Dir{FS: sgxvectors.MustFS("dcapqvl")}, block: make(chan struct{})}
	c := NewCache(src, CacheOptions{Now: func() time.Time { return t0 }})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Fetch(context.Background(), Key{Kind: KindRootCACRL})
			errs <- err
		}()
	}
	waitFor(t, func() bool { return src.n.Load() >= 1 })
	time.Sleep(20 * time.Millisecond)
	close(src.block)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := src.n.Load(); n != 1 {
		t.Fatalf("%d fetches for one key", n)
	}
}

func TestCacheOffline(t *testing.T) {
	src := &countingSource{src: Dir{FS: sgxvectors.MustFS("dcapqvl")}}
	c := NewCache(src, CacheOptions{Now: func() time.Time { return t0 }, Offline: true})
	if _, err := c.Fetch(context.Background(), Key{Kind: KindRootCACRL}); !errors.Is(err, ErrOffline) {
		t.Fatalf("offline miss: %v", err)
	}
	it, err := Dir{FS: sgxvectors.MustFS("dcapqvl")}.Fetch(context.Background(), Key{Kind: KindRootCACRL})
	if err != nil {
		t.Fatal(err)
	}
	c.Put(it)
	if got, err := c.Fetch(context.Background(), Key{Kind: KindRootCACRL}); err != nil || got != it {
		t.Fatalf("offline hit: %v", err)
	}
	if src.n.Load() != 0 {
		t.Fatal("offline cache called its source")
	}
}

func TestCacheWithPCS(t *testing.T) {
	var down atomic.Bool
	var hits atomic.Int64
	srv := pcsServer(t, &down, &hits)
	clk := &clock{t: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)}
	c := NewCache(newTestPCS(t, srv), CacheOptions{Now: clk.now})
	if _, err := Get(context.Background(), c, "00906ED50000", CAProcessor); err != nil {
		t.Fatal(err)
	}
	n := hits.Load()
	down.Store(true)
	if _, err := Get(context.Background(), c, "00906ED50000", CAProcessor); err != nil {
		t.Fatalf("served from cache while PCS is down: %v", err)
	}
	if hits.Load() != n {
		t.Errorf("warm cache hit the server")
	}
}

func waitFor(t *testing.T, f func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if f() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached")
}

func TestPCSRootCRLURLDefault(t *testing.T) {
	p, err := NewPCS(DefaultPCSOptions())
	if err != nil || p.opts.RootCRLURL != IntelRootCRLURL {
		t.Errorf("Intel PCS: %q %v", p.opts.RootCRLURL, err)
	}
	p, err = NewPCS(PCSOptions{BaseURL: "https://pccs.example:8081/sgx/certification/v4/"})
	if err != nil || p.opts.RootCRLURL != "https://pccs.example:8081/sgx/certification/v4/rootcacrl" {
		t.Errorf("PCCS: %q %v", p.opts.RootCRLURL, err)
	}
}
