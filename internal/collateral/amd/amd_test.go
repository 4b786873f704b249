package amd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/evidence/sevsnp"
)

var pin = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func der(t testing.TB, pemBytes []byte) []byte {
	t.Helper()
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		t.Fatal("no PEM")
	}
	return blk.Bytes
}

func query(t testing.TB, file string) (sevsnp.CertQuery, *sevsnp.Report) {
	t.Helper()
	r, err := sevsnp.ParseReport(read(t, file))
	if err != nil {
		t.Fatal(err)
	}
	q, ok := sevsnp.QueryFor(r, sevsnp.ProductUnknown)
	if !ok {
		t.Fatal("no query")
	}
	return q, r
}

// fakeKDS serves VCEKs at AMD's paths, with scripted failures.
type fakeKDS struct {
	srv   *httptest.Server
	hits  atomic.Int32
	mu    sync.Mutex
	vceks map[string][]byte // path?query → DER
	crl   []byte
	// script, consumed per hit: "429:<secs>", "404", "slow:<dur>", "500"; "" = serve.
	script []string
}

func newFakeKDS(t *testing.T) *fakeKDS {
	f := &fakeKDS{vceks: map[string][]byte{}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		f.mu.Lock()
		step := ""
		if len(f.script) > 0 {
			step, f.script = f.script[0], f.script[1:]
		}
		f.mu.Unlock()
		var n int
		var d time.Duration
		switch {
		case step == "404":
			http.NotFound(w, r)
			return
		case step == "500":
			w.WriteHeader(500)
			return
		case len(step) > 4 && step[:4] == "429:":
			fmt.Sscanf(step[4:], "%d", &n)
			w.Header().Set("Retry-After", fmt.Sprint(n))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		case len(step) > 5 && step[:5] == "slow:":
			d, _ = time.ParseDuration(step[5:])
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		if r.URL.Path == "/vcek/v1/Milan/crl" && f.crl != nil {
			w.Write(f.crl)
			return
		}
		b, ok := f.vceks[r.URL.Path+"?"+r.URL.RawQuery]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-x509-ca-cert")
		w.Write(b)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeKDS) source(t *testing.T, mod func(*Options)) *Source {
	o := DefaultOptions()
	o.KDSURL = f.srv.URL
	o.HTTPClient = f.srv.Client()
	o.Fetch = true
	o.Now = func() time.Time { return pin }
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func milanKDS(t *testing.T) (*fakeKDS, sevsnp.CertQuery, []byte) {
	f := newFakeKDS(t)
	q, _ := query(t, "milan_attestation_report.bin")
	vcek := der(t, read(t, "milan_vcek.pem"))
	f.vceks["/vcek/v1/Milan/"+hex.EncodeToString(q.ChipID)+"?blSPL=4&teeSPL=0&snpSPL=24&ucodeSPL=219"] = vcek
	return f, q, vcek
}

func TestCacheHitAfterFirstFetch(t *testing.T) {
	f, q, vcek := milanKDS(t)
	cache := t.TempDir()
	s := f.source(t, func(o *Options) { o.CacheDir = cache })
	for i := 0; i < 3; i++ {
		b, err := s.VCEK(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(vcek) {
			t.Fatal("wrong VCEK")
		}
	}
	if f.hits.Load() != 1 || s.Fetches() != 1 {
		t.Fatalf("%d hits for 3 lookups, want 1", f.hits.Load())
	}
	// A new instance with the same disk cache and fetching off: no KDS call.
	s2 := f.source(t, func(o *Options) { o.CacheDir = cache; o.Fetch = false })
	if _, err := s2.VCEK(context.Background(), q); err != nil {
		t.Fatalf("disk cache: %v", err)
	}
	if f.hits.Load() != 1 {
		t.Fatalf("disk cache miss went to KDS")
	}
}

func TestCoalescing(t *testing.T) {
	f, q, _ := milanKDS(t)
	f.script = []string{"slow:300ms"}
	s := f.source(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.VCEK(context.Background(), q)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.hits.Load(); n != 1 {
		t.Fatalf("16 concurrent misses made %d fetches, want 1", n)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Run("waits when allowed", func(t *testing.T) {
		f, q, _ := milanKDS(t)
		f.script = []string{"429:1"}
		s := f.source(t, func(o *Options) { o.MaxRetryWait = 3 * time.Second; o.Now = time.Now })
		if _, err := s.VCEK(context.Background(), q); err != nil {
			t.Fatal(err)
		}
		if f.hits.Load() != 2 {
			t.Fatalf("%d hits, want 2 (429, then the retry)", f.hits.Load())
		}
	})
	t.Run("fails fast and does not hammer", func(t *testing.T) {
		f, q, _ := milanKDS(t)
		f.script = []string{"429:60"}
		s := f.source(t, nil)
		_, err := s.VCEK(context.Background(), q)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%v", err)
		}
		for i := 0; i < 5; i++ {
			if _, err := s.VCEK(context.Background(), q); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("during Retry-After: %v", err)
			}
		}
		if f.hits.Load() != 1 {
			t.Fatalf("%d hits during Retry-After, want 1", f.hits.Load())
		}
		// After the Retry-After the service is called again.
		later := f.source(t, nil)
		later.backoff = s.backoff
		later.now = func() time.Time { return pin.Add(61 * time.Second) }
		if _, err := later.VCEK(context.Background(), q); err != nil {
			t.Fatalf("after Retry-After: %v", err)
		}
	})
}

func TestNotFoundAndSlow(t *testing.T) {
	f, q, _ := milanKDS(t)
	f.script = []string{"404"}
	s := f.source(t, nil)
	if _, err := s.VCEK(context.Background(), q); !errors.Is(err, ErrNotFound) {
		t.Fatalf("404: %v", err)
	}
	f.script = []string{"500"}
	if _, err := s.VCEK(context.Background(), q); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("500: %v", err)
	}
	f.script = []string{"slow:1500ms"}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := s.VCEK(ctx, q); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("slow: %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("a slow KDS held the request past its deadline")
	}
	// Unknown chip → 404 from the fake.
	q2 := q
	q2.ChipID = make([]byte, 64)
	if _, err := s.VCEK(context.Background(), q2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown chip: %v", err)
	}
}

func TestOfflineDirectory(t *testing.T) {
	q, r := query(t, "milan_attestation_report.bin")
	dir := t.TempDir()
	p := filepath.Join(dir, "snp", "Milan", hex.EncodeToString(q.ChipID), hex.EncodeToString(q.ReportedTCB[:])+".pem")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, append(read(t, "milan_vcek.pem"), read(t, "milan_ask.pem")...), 0o644); err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Dir = dir
	o.KDSURL = "https://127.0.0.1:1" // never called
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.VCEK(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	if s.Fetches() != 0 {
		t.Fatal("offline directory fetched")
	}
	// Not there and fetching off.
	q2 := q
	q2.TCB.SNP++
	q2.ReportedTCB[6]++
	if _, err := s.VCEK(context.Background(), q2); !errors.Is(err, ErrOffline) {
		t.Fatalf("missing: %v", err)
	}
	// The verifier completes a chain-less report from this source.
	vo := sevsnp.DefaultOptions()
	vo.Now = func() time.Time { return pin }
	vo.Collateral = s
	v, err := sevsnp.NewVerifier(vo)
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.VerifyReport(context.Background(), r, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := res.Claims()
	if cl[sevsnp.ClaimVCEKSource] != "collateral" || cl[sevsnp.ClaimCRL] != sevsnp.CRLUnavailable {
		t.Errorf("claims: %v %v", cl[sevsnp.ClaimVCEKSource], cl[sevsnp.ClaimCRL])
	}
}

func TestTurinURL(t *testing.T) {
	f := newFakeKDS(t)
	q, _ := query(t, "turin_attestation_report.bin")
	f.vceks["/vcek/v1/Turin/"+hex.EncodeToString(q.ChipID[:8])+"?fmcSPL=1&blSPL=1&teeSPL=1&snpSPL=4&ucodeSPL=81"] = der(t, read(t, "turin_vcek.pem"))
	if _, err := f.source(t, nil).VCEK(context.Background(), q); err != nil {
		t.Fatalf("Turin: %v (KDS takes the 8-byte chip ID and fmcSPL)", err)
	}
}

func TestTHIM(t *testing.T) {
	q, _ := query(t, "milan_attestation_report.bin")
	var hits atomic.Int32
	var path string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		path = r.URL.String()
		w.Write(append(read(t, "milan_vcek.pem"), read(t, "milan_ask.pem")...))
	}))
	defer srv.Close()
	o := DefaultOptions()
	o.THIMURL = srv.URL
	o.KDSURL = "https://127.0.0.1:1"
	o.HTTPClient = srv.Client()
	o.Fetch = true
	s, _ := New(o)
	if _, err := s.VCEK(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	want := "/SevSnpVM/certificates/" + hex.EncodeToString(q.ChipID) + "/db18000000000004?api-version=2020-10-15-preview"
	if path != want {
		t.Errorf("THIM path %s, want %s", path, want)
	}
}

func TestCRL(t *testing.T) {
	f, _, _ := milanKDS(t)
	// A structurally valid CRL (the verifier checks AMD's signature; this
	// package only caches it until nextUpdate).
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ARK-Milan"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCRLSign | x509.KeyUsageCertSign, NotBefore: pin.Add(-time.Hour), NotAfter: pin.Add(time.Hour * 24 * 365)}
	caDER, _ := x509.CreateCertificate(rand.Reader, ca, ca, k.Public(), k)
	caCert, _ := x509.ParseCertificate(caDER)
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: pin.Add(-time.Hour), NextUpdate: pin.Add(time.Hour)}, caCert, k)
	if err != nil {
		t.Fatal(err)
	}
	f.crl = crl
	cache := t.TempDir()
	s := f.source(t, func(o *Options) { o.CacheDir = cache })
	for i := 0; i < 2; i++ {
		if _, err := s.CRL(context.Background(), sevsnp.ProductMilan, sevsnp.SigningKeyVCEK); err != nil {
			t.Fatal(err)
		}
	}
	if f.hits.Load() != 1 {
		t.Fatalf("%d CRL fetches, want 1", f.hits.Load())
	}
	// Past nextUpdate, neither memory nor disk copy is served offline.
	late := f.source(t, func(o *Options) {
		o.CacheDir = cache
		o.Fetch = false
		o.Now = func() time.Time { return pin.Add(2 * time.Hour) }
	})
	if _, err := late.CRL(context.Background(), sevsnp.ProductMilan, sevsnp.SigningKeyVCEK); !errors.Is(err, ErrOffline) {
		t.Fatalf("stale CRL: %v", err)
	}
	fresh := f.source(t, func(o *Options) { o.CacheDir = cache; o.Fetch = false })
	if _, err := fresh.CRL(context.Background(), sevsnp.ProductMilan, sevsnp.SigningKeyVCEK); err != nil {
		t.Fatalf("disk CRL: %v", err)
	}
}

func TestPrefetch(t *testing.T) {
	f, q, _ := milanKDS(t)
	f.script = []string{"", "404"} // VCEK ok, CRL missing
	cache := t.TempDir()
	s := f.source(t, func(o *Options) { o.CacheDir = cache; o.Fetch = false })
	if err := s.Prefetch(context.Background(), q); !errors.Is(err, ErrNotFound) {
		t.Fatalf("prefetch: %v (the CRL is missing)", err)
	}
	off := f.source(t, func(o *Options) { o.CacheDir = cache; o.Fetch = false; o.KDSURL = "https://127.0.0.1:1" })
	if _, err := off.VCEK(context.Background(), q); err != nil {
		t.Fatalf("after prefetch: %v", err)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	if _, err := New(Options{KDSURL: "ftp://x"}); err == nil {
		t.Fatal("ftp URL accepted")
	}
}

// THIM's URL does not name the product, so a query for a version 1 or 2
// report (which does not either) as the wrong product gets the chip's real
// VCEK of the other product: refused, and cached under neither, so the
// query as the right product then succeeds.
func TestTHIMAnswerOfAnotherProduct(t *testing.T) {
	q, _ := query(t, "milan_attestation_report.bin")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(read(t, "milan_vcek.pem"))
	}))
	defer srv.Close()
	o := DefaultOptions()
	o.THIMURL, o.KDSURL, o.HTTPClient, o.Fetch, o.CacheDir = srv.URL, "https://127.0.0.1:1", srv.Client(), true, t.TempDir()
	s, _ := New(o)
	asGenoa := q
	asGenoa.Product = sevsnp.ProductGenoa
	if _, err := s.VCEK(context.Background(), asGenoa); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "is a Milan VCEK") {
		t.Fatalf("Milan VCEK for a Genoa query: %v", err)
	}
	if _, err := os.Stat(filepath.Join(o.CacheDir, "snp", "Genoa")); !os.IsNotExist(err) {
		t.Fatalf("the wrong product's VCEK was cached: %v", err)
	}
	if _, err := s.VCEK(context.Background(), q); err != nil {
		t.Fatalf("as Milan: %v", err)
	}
}
