// Package amd supplies the AMD SEV-SNP collateral a report's evidence may
// lack: VCEK certificates (by product, chip ID and TCB) and AMD's CRLs. It
// implements sevsnp.Collateral.
//
// Lookup order for a VCEK: memory, the disk cache (VCEKs are immutable per
// (product, chip, TCB), so they are kept indefinitely; they are still
// chained to the pinned ARK on every use by the verifier), the local
// collateral directory (offline sites), then, only when Options.Fetch is
// set, Azure's certificate cache (THIM's global endpoint) and AMD KDS.
// Concurrent misses for one key make one fetch; a 429 from a service is
// honoured (Retry-After: the service is not called again before then; the
// request waits for it only up to Options.MaxRetryWait).
//
// CRLs come from the disk cache or the directory, or from KDS when Fetch
// is set; they are kept until their nextUpdate and never served after it.
package amd

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/maat-attest/maat/internal/evidence/sevsnp"
)

// Errors of the source. Every error wraps one of them.
var (
	ErrNotFound    = errors.New("AMD collateral not found")
	ErrUnavailable = errors.New("AMD collateral service unavailable")
	ErrOffline     = errors.New("AMD collateral not cached and fetching is off")
)

// Options configure a Source. New copies them. Start from DefaultOptions.
type Options struct {
	// KDSURL is AMD's Key Distribution Service; "" means DefaultKDSURL.
	KDSURL string
	// THIMURL is an Azure certificate cache base URL serving
	// {base}/SevSnpVM/certificates/{chip}/{tcbm}?api-version=2020-10-15-preview
	// (Azure's is https://global.acccache.azure.net); "" means not used.
	THIMURL string
	// Dir is a local collateral directory (the instance's collateral-dir):
	// snp/{product}/{chip hex}/{reported TCB hex}.pem (or .der) for VCEKs and
	// snp/{product}/{vcek|vlek}_crl.der (or .pem) for CRLs.
	Dir string
	// CacheDir keeps fetched VCEKs and CRLs on disk ("" means memory only).
	CacheDir string
	// Fetch allows network fetches on the request path. False serves only
	// what the caches and Dir hold (Prefetch still fetches).
	Fetch bool
	// HTTPClient is used for KDS and THIM; nil means a client with a 30 s
	// timeout.
	HTTPClient *http.Client
	// MaxRetryWait is how long a request may wait for a Retry-After before
	// giving up; 0 means fail at once (the next request after the
	// Retry-After retries).
	MaxRetryWait time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives fetch failures; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultKDSURL is AMD's KDS.
const DefaultKDSURL = "https://kdsintf.amd.com"

// DefaultOptions returns the defaults: AMD KDS, no THIM, no directory,
// memory cache only, no fetching on the request path.
func DefaultOptions() Options { return Options{KDSURL: DefaultKDSURL} }

// maxBody bounds a KDS or THIM response.
const maxBody = 1 << 20

// Source implements sevsnp.Collateral. It is safe for concurrent use.
type Source struct {
	o   Options
	hc  *http.Client
	now func() time.Time
	log *slog.Logger

	mu       sync.Mutex
	vceks    map[string][]byte
	crls     map[string]crlEntry
	inflight map[string]*call
	backoff  map[string]time.Time // host → not before
	fetches  int
}

type crlEntry struct {
	der        []byte
	nextUpdate time.Time
}

type call struct {
	done chan struct{}
	b    []byte
	err  error
}

var _ sevsnp.Collateral = (*Source)(nil)

// New returns a Source. It returns an error for a malformed URL.
func New(o Options) (*Source, error) {
	if o.KDSURL == "" {
		o.KDSURL = DefaultKDSURL
	}
	for name, u := range map[string]string{"KDS": o.KDSURL, "THIM": o.THIMURL} {
		if u == "" {
			continue
		}
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return nil, fmt.Errorf("amd: %s URL %q must be an absolute http(s) URL", name, u)
		}
	}
	o.KDSURL = strings.TrimRight(o.KDSURL, "/")
	o.THIMURL = strings.TrimRight(o.THIMURL, "/")
	s := &Source{o: o, hc: o.HTTPClient, now: o.Now, log: o.Logger,
		vceks: map[string][]byte{}, crls: map[string]crlEntry{}, inflight: map[string]*call{}, backoff: map[string]time.Time{}}
	if s.hc == nil {
		s.hc = &http.Client{Timeout: 30 * time.Second}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s, nil
}

// Fetches returns how many network fetches the source made (for tests and
// metrics).
func (s *Source) Fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// chipHex is the chip ID KDS indexes by: 64 bytes, Turin only the first 8.
func chipHex(q sevsnp.CertQuery) string {
	c := q.ChipID
	if q.Product == sevsnp.ProductTurin && len(c) >= 8 {
		c = c[:8]
	}
	return hex.EncodeToString(c)
}

// tcbHex is the 8 REPORTED_TCB bytes in report order, as in the claims.
func tcbHex(q sevsnp.CertQuery) string { return hex.EncodeToString(q.ReportedTCB[:]) }

func vcekKey(q sevsnp.CertQuery) string {
	return string(q.Product) + "/" + chipHex(q) + "/" + tcbHex(q)
}

// VCEK returns the VCEK (DER) for q, or an error wrapping ErrNotFound,
// ErrUnavailable or ErrOffline.
func (s *Source) VCEK(ctx context.Context, q sevsnp.CertQuery) ([]byte, error) {
	return s.vcek(ctx, q, s.o.Fetch)
}

// Prefetch fetches and caches the VCEK for q (and the product's CRLs)
// whatever Options.Fetch says: `maat collateral fetch` pre-fills the cache
// of an air-gapped instance with it.
func (s *Source) Prefetch(ctx context.Context, q sevsnp.CertQuery) error {
	if _, err := s.vcek(ctx, q, true); err != nil {
		return err
	}
	_, err := s.crl(ctx, q.Product, sevsnp.SigningKeyVCEK, true)
	return err
}

func (s *Source) vcek(ctx context.Context, q sevsnp.CertQuery, fetch bool) ([]byte, error) {
	if len(q.ChipID) != 64 {
		return nil, fmt.Errorf("%w: chip ID is %d bytes, want 64", ErrNotFound, len(q.ChipID))
	}
	switch q.Product {
	case sevsnp.ProductMilan, sevsnp.ProductGenoa, sevsnp.ProductTurin:
	default:
		return nil, fmt.Errorf("%w: unknown product %q", ErrNotFound, q.Product)
	}
	key := vcekKey(q)
	s.mu.Lock()
	if b, ok := s.vceks[key]; ok {
		s.mu.Unlock()
		return b, nil
	}
	s.mu.Unlock()
	if b, err := s.readVCEKFile(q); err == nil {
		if err := productMatches(q, b); err != nil {
			return nil, err
		}
		s.remember(key, b)
		return b, nil
	}
	if !fetch {
		return nil, fmt.Errorf("%w: no VCEK for %s in the cache or collateral directory (snp/%s); enable fetching or pre-fill with `maat collateral fetch`", ErrOffline, key, key)
	}
	b, err := s.coalesce(ctx, "vcek/"+key, func(ctx context.Context) ([]byte, error) { return s.fetchVCEK(ctx, q) })
	if err != nil {
		return nil, err
	}
	// THIM's URL does not name the product: for a version 1 or 2 report
	// (which does not either) a query as Milan may be answered with the
	// chip's Genoa VCEK. Such an answer is not this query's and is not
	// cached under it.
	if err := productMatches(q, b); err != nil {
		return nil, err
	}
	s.remember(key, b)
	s.writeCache(filepath.Join("snp", string(q.Product), chipHex(q), tcbHex(q)+".der"), b)
	return b, nil
}

// productMatches returns an error wrapping ErrNotFound when the VCEK (DER)
// names a product other than q's.
func productMatches(q sevsnp.CertQuery, der []byte) error {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("%w: the VCEK for %s does not parse: %v", ErrNotFound, vcekKey(q), err)
	}
	ext, err := sevsnp.ParseLeafExtensions(c)
	if err != nil {
		return fmt.Errorf("%w: the VCEK for %s: %v", ErrNotFound, vcekKey(q), err)
	}
	if p := ext.Product(); p != sevsnp.ProductUnknown && p != q.Product {
		return fmt.Errorf("%w: the VCEK served for %s is a %s VCEK", ErrNotFound, vcekKey(q), p)
	}
	return nil
}

func (s *Source) remember(key string, b []byte) {
	s.mu.Lock()
	s.vceks[key] = b
	s.mu.Unlock()
}

// readVCEKFile reads the disk cache, then the collateral directory.
func (s *Source) readVCEKFile(q sevsnp.CertQuery) ([]byte, error) {
	rel := filepath.Join("snp", string(q.Product), chipHex(q), tcbHex(q))
	for _, base := range []string{s.o.CacheDir, s.o.Dir} {
		if base == "" {
			continue
		}
		for _, ext := range []string{".der", ".pem"} {
			b, err := readFile(filepath.Join(base, rel+ext))
			if err != nil {
				continue
			}
			der, err := vcekDER(b)
			if err != nil {
				s.log.Warn("amd: unusable VCEK file", "path", filepath.Join(base, rel+ext), "err", err)
				continue
			}
			return der, nil
		}
	}
	return nil, ErrNotFound
}

func readFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxBody))
}

// vcekDER returns the SEV-VCEK certificate of a DER certificate or a PEM
// bundle (THIM and the cert-chain files hold the whole chain).
func vcekDER(b []byte) ([]byte, error) {
	// Only leading white space is dropped: a DER certificate may end in a
	// byte that looks like white space.
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) > 0 && t[0] == 0x30 {
		c, err := x509.ParseCertificate(t)
		if err != nil {
			return nil, err
		}
		if c.Subject.CommonName != "SEV-VCEK" {
			return nil, fmt.Errorf("certificate CN is %q, want SEV-VCEK", c.Subject.CommonName)
		}
		return c.Raw, nil
	}
	for {
		var blk *pem.Block
		blk, t = pem.Decode(t)
		if blk == nil {
			return nil, errors.New("no SEV-VCEK certificate")
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil && c.Subject.CommonName == "SEV-VCEK" {
			return c.Raw, nil
		}
	}
}

func (s *Source) fetchVCEK(ctx context.Context, q sevsnp.CertQuery) ([]byte, error) {
	var errs []error
	if s.o.THIMURL != "" {
		tcbm := strconv.FormatUint(binary.LittleEndian.Uint64(q.ReportedTCB[:]), 16)
		u := fmt.Sprintf("%s/SevSnpVM/certificates/%s/%s?api-version=2020-10-15-preview", s.o.THIMURL, hex.EncodeToString(q.ChipID), tcbm)
		b, err := s.get(ctx, u)
		if err == nil {
			if der, err := vcekDER(b); err == nil {
				return der, nil
			} else {
				errs = append(errs, fmt.Errorf("%w: THIM answered without a VCEK: %v", ErrUnavailable, err))
			}
		} else {
			errs = append(errs, err)
		}
	}
	t := q.TCB
	var u string
	if q.Product == sevsnp.ProductTurin {
		u = fmt.Sprintf("%s/vcek/v1/Turin/%s?fmcSPL=%d&blSPL=%d&teeSPL=%d&snpSPL=%d&ucodeSPL=%d", s.o.KDSURL, chipHex(q), t.FMC, t.Bootloader, t.TEE, t.SNP, t.Microcode)
	} else {
		u = fmt.Sprintf("%s/vcek/v1/%s/%s?blSPL=%d&teeSPL=%d&snpSPL=%d&ucodeSPL=%d", s.o.KDSURL, q.Product, chipHex(q), t.Bootloader, t.TEE, t.SNP, t.Microcode)
	}
	b, err := s.get(ctx, u)
	if err == nil {
		der, perr := vcekDER(b)
		if perr == nil {
			return der, nil
		}
		err = fmt.Errorf("%w: KDS answered without a VCEK: %v", ErrUnavailable, perr)
	}
	return nil, errors.Join(append(errs, err)...)
}

// CRL returns the DER CRL for the product's VCEK or VLEK intermediates, not
// past its nextUpdate, or an error wrapping ErrNotFound, ErrUnavailable or
// ErrOffline.
func (s *Source) CRL(ctx context.Context, p sevsnp.Product, k sevsnp.SigningKey) ([]byte, error) {
	return s.crl(ctx, p, k, s.o.Fetch)
}

func (s *Source) crl(ctx context.Context, p sevsnp.Product, k sevsnp.SigningKey, fetch bool) ([]byte, error) {
	kind := "vcek"
	if k == sevsnp.SigningKeyVLEK {
		kind = "vlek"
	}
	key := string(p) + "/" + kind
	now := s.now()
	s.mu.Lock()
	if e, ok := s.crls[key]; ok && now.Before(e.nextUpdate) {
		s.mu.Unlock()
		return e.der, nil
	}
	s.mu.Unlock()
	rel := filepath.Join("snp", string(p), kind+"_crl")
	for _, base := range []string{s.o.CacheDir, s.o.Dir} {
		if base == "" {
			continue
		}
		for _, ext := range []string{".der", ".pem"} {
			b, err := readFile(filepath.Join(base, rel+ext))
			if err != nil {
				continue
			}
			if e, err := parseCRL(b); err == nil && now.Before(e.nextUpdate) {
				s.mu.Lock()
				s.crls[key] = e
				s.mu.Unlock()
				return e.der, nil
			}
		}
	}
	if !fetch {
		return nil, fmt.Errorf("%w: no current %s CRL for %s in the cache or collateral directory", ErrOffline, kind, p)
	}
	b, err := s.coalesce(ctx, "crl/"+key, func(ctx context.Context) ([]byte, error) {
		return s.get(ctx, fmt.Sprintf("%s/%s/v1/%s/crl", s.o.KDSURL, kind, p))
	})
	if err != nil {
		return nil, err
	}
	e, err := parseCRL(b)
	if err != nil {
		return nil, fmt.Errorf("%w: KDS %s CRL for %s: %v", ErrUnavailable, kind, p, err)
	}
	if !now.Before(e.nextUpdate) {
		return nil, fmt.Errorf("%w: KDS served a %s CRL for %s past its nextUpdate %s", ErrUnavailable, kind, p, e.nextUpdate.Format(time.RFC3339))
	}
	s.mu.Lock()
	s.crls[key] = e
	s.mu.Unlock()
	s.writeCache(rel+".der", e.der)
	return e.der, nil
}

func parseCRL(b []byte) (crlEntry, error) {
	// DER is taken as is: trimming "white space" would cut a signature whose
	// last byte happens to be 0x09-0x0d or 0x20.
	der := b
	if blk, _ := pem.Decode(b); blk != nil {
		der = blk.Bytes
	}
	c, err := x509.ParseRevocationList(der)
	if err != nil {
		return crlEntry{}, err
	}
	return crlEntry{der: bytes.Clone(c.Raw), nextUpdate: c.NextUpdate}, nil
}

// writeCache stores b under CacheDir atomically; failures are logged (the
// cache is an optimisation).
func (s *Source) writeCache(rel string, b []byte) {
	if s.o.CacheDir == "" {
		return
	}
	p := filepath.Join(s.o.CacheDir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.log.Warn("amd: cache write failed", "path", p, "err", err)
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		s.log.Warn("amd: cache write failed", "path", p, "err", err)
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		s.log.Warn("amd: cache write failed", "path", p, "err", errors.Join(werr, cerr))
		return
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		s.log.Warn("amd: cache write failed", "path", p, "err", err)
	}
}

// coalesce runs fn once for concurrent callers with the same key. The fetch
// runs detached from any one caller's cancellation (others wait for it),
// bounded by the HTTP client's timeout; each caller still returns when its
// own ctx ends.
func (s *Source) coalesce(ctx context.Context, key string, fn func(context.Context) ([]byte, error)) ([]byte, error) {
	s.mu.Lock()
	c, ok := s.inflight[key]
	if !ok {
		c = &call{done: make(chan struct{})}
		s.inflight[key] = c
		go func() {
			c.b, c.err = fn(context.WithoutCancel(ctx))
			s.mu.Lock()
			delete(s.inflight, key)
			s.mu.Unlock()
			close(c.done)
		}()
	}
	s.mu.Unlock()
	select {
	case <-c.done:
		return c.b, c.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
	}
}

// get fetches u, honouring a 429's Retry-After per host: while a host's
// Retry-After runs, it is not called; a request waits for it at most
// MaxRetryWait, and retries at most once.
func (s *Source) get(ctx context.Context, u string) ([]byte, error) {
	pu, _ := url.Parse(u)
	host := pu.Host
	s.mu.Lock()
	until := s.backoff[host]
	s.mu.Unlock()
	if wait := until.Sub(s.now()); wait > 0 {
		if wait > s.o.MaxRetryWait {
			return nil, fmt.Errorf("%w: %s rate-limited us (429); not calling it again before %s", ErrUnavailable, host, until.UTC().Format(time.RFC3339))
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		s.mu.Lock()
		s.fetches++
		s.mu.Unlock()
		resp, err := s.hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%w: GET %s: %v", ErrUnavailable, u, err)
		}
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			if rerr != nil {
				return nil, fmt.Errorf("%w: GET %s: %v", ErrUnavailable, u, rerr)
			}
			if len(body) > maxBody {
				return nil, fmt.Errorf("%w: GET %s: response larger than %d bytes", ErrUnavailable, u, maxBody)
			}
			return body, nil
		case resp.StatusCode == http.StatusNotFound:
			return nil, fmt.Errorf("%w: GET %s: 404", ErrNotFound, u)
		case resp.StatusCode == http.StatusTooManyRequests:
			d := retryAfter(resp.Header.Get("Retry-After"), s.now())
			s.mu.Lock()
			if t := s.now().Add(d); t.After(s.backoff[host]) {
				s.backoff[host] = t
			}
			s.mu.Unlock()
			s.log.Warn("amd: rate limited", "host", host, "retry_after", d)
			if attempt > 0 || d > s.o.MaxRetryWait {
				return nil, fmt.Errorf("%w: %s answered 429 Too Many Requests; retry after %s", ErrUnavailable, host, d)
			}
			if err := sleep(ctx, d); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: GET %s: status %d", ErrUnavailable, u, resp.StatusCode)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
	}
}

// retryAfter reads a Retry-After (seconds or HTTP date); missing or bad
// means 10 s, AMD KDS's observed rate (one VCEK per 10 s per client).
func retryAfter(h string, now time.Time) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
		return 0
	}
	return 10 * time.Second
}
