package collateral

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Intel's PCS endpoints.
const (
	IntelPCSBaseURL   = "https://api.trustedservices.intel.com/sgx/certification/v4"
	IntelRootCRLURL   = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"
	intelPCSHost      = "api.trustedservices.intel.com"
	maxResponseSize   = MaxItemSize
	defaultPCSTimeout = 30 * time.Second
)

// PCSOptions configures a PCS client. The zero value is not useful; start
// from DefaultPCSOptions.
type PCSOptions struct {
	// BaseURL is the SGX certification API base, e.g. IntelPCSBaseURL or a
	// PCCS's "https://pccs.example:8081/sgx/certification/v4".
	BaseURL string
	// RootCRLURL is where the Root CA CRL is fetched (DER, PEM or hex). Empty
	// means IntelRootCRLURL when BaseURL is on Intel's PCS host, otherwise
	// BaseURL+"/rootcacrl" (the PCCS path).
	RootCRLURL string
	// RootCAs verifies the server's TLS certificate; nil means the system pool.
	RootCAs *x509.CertPool
	// Client, when set, is used as is (RootCAs and Timeout are then ignored).
	Client *http.Client
	// Timeout bounds each request; 0 means 30 s.
	Timeout time.Duration
	// Header is added to every request (e.g. an API key); may be nil.
	Header http.Header
	// Now stamps FetchedAt; nil means time.Now.
	Now func() time.Time
	// Update selects the TCB Info / QE Identity variant: "" (the service's
	// default, standard), "standard" or "early" (PCS `update=` parameter).
	Update string
	// TDXBaseURL is the TDX certification API base. Empty means BaseURL
	// with its "/sgx/" path segment replaced by "/tdx/" (Intel PCS, PCCS
	// and Azure's cache all serve /tdx/certification/v4 beside
	// /sgx/certification/v4).
	TDXBaseURL string
}

// DefaultPCSOptions returns options for Intel's PCS v4.
func DefaultPCSOptions() PCSOptions {
	return PCSOptions{BaseURL: IntelPCSBaseURL}
}

// PCS is a Source speaking the Intel PCS v4 API (also served by PCCS and the
// Azure caching service under other base URLs). Issuer chains come from the
// response headers (URL-encoded PEM).
type PCS struct {
	opts    PCSOptions
	client  *http.Client
	base    *url.URL
	tdxBase string
}

var _ Source = (*PCS)(nil)

// NewPCS returns a PCS client. It returns an error when BaseURL or
// RootCRLURL is not an absolute http(s) URL.
func NewPCS(opts PCSOptions) (*PCS, error) {
	base, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("collateral: bad PCS base URL %q", opts.BaseURL)
	}
	if opts.RootCRLURL == "" {
		if base.Host == intelPCSHost {
			opts.RootCRLURL = IntelRootCRLURL
		} else {
			opts.RootCRLURL = base.String() + "/rootcacrl"
		}
	}
	if u, err := url.Parse(opts.RootCRLURL); err != nil || u.Host == "" {
		return nil, fmt.Errorf("collateral: bad root CRL URL %q", opts.RootCRLURL)
	}
	if opts.Header != nil {
		opts.Header = opts.Header.Clone()
	}
	if opts.Update != "" && opts.Update != "standard" && opts.Update != "early" {
		return nil, fmt.Errorf("collateral: update must be standard or early, not %q", opts.Update)
	}
	c := opts.Client
	if c == nil {
		to := opts.Timeout
		if to == 0 {
			to = defaultPCSTimeout
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if opts.RootCAs != nil {
			tr.TLSClientConfig = &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12}
		}
		c = &http.Client{Transport: tr, Timeout: to}
	}
	tdx := strings.TrimRight(opts.TDXBaseURL, "/")
	if tdx == "" {
		tdx = base.String()
		if i := strings.LastIndex(tdx, "/sgx/"); i >= 0 {
			tdx = tdx[:i] + "/tdx/" + tdx[i+len("/sgx/"):]
		}
	}
	if u, err := url.Parse(tdx); err != nil || u.Host == "" {
		return nil, fmt.Errorf("collateral: bad TDX base URL %q", tdx)
	}
	return &PCS{opts: opts, client: c, base: base, tdxBase: tdx}, nil
}

// Fetch gets the item for key from the service. A 404 gives an error
// wrapping ErrNotFound; transport errors, other statuses and undecodable
// bodies give ErrUnavailable.
func (p *PCS) Fetch(ctx context.Context, key Key) (*Item, error) {
	if err := key.validate(); err != nil {
		return nil, err
	}
	var u, chainHeader string
	switch key.Kind {
	case KindTCBInfo:
		u = p.base.String() + "/tcb?fmspc=" + url.QueryEscape(key.FMSPC)
		if p.opts.Update != "" {
			u += "&update=" + p.opts.Update
		}
		chainHeader = "TCB-Info-Issuer-Chain"
	case KindQEIdentity:
		u = p.base.String() + "/qe/identity"
		if p.opts.Update != "" {
			u += "?update=" + p.opts.Update
		}
		chainHeader = "SGX-Enclave-Identity-Issuer-Chain"
	case KindPCKCRL:
		u = p.base.String() + "/pckcrl?ca=" + key.CA + "&encoding=der"
		chainHeader = "SGX-PCK-CRL-Issuer-Chain"
	case KindRootCACRL:
		u = p.opts.RootCRLURL
	case KindTDXTCBInfo:
		u = p.tdxBase + "/tcb?fmspc=" + url.QueryEscape(key.FMSPC)
		if p.opts.Update != "" && key.EvalNum == 0 {
			u += "&update=" + p.opts.Update
		}
		chainHeader = "TCB-Info-Issuer-Chain"
	case KindTDQEIdentity:
		u = p.tdxBase + "/qe/identity"
		if p.opts.Update != "" && key.EvalNum == 0 {
			u += "?update=" + p.opts.Update
		}
		chainHeader = "SGX-Enclave-Identity-Issuer-Chain"
	}
	switch key.Kind {
	case KindSGXTCBEvalNums:
		u, chainHeader = p.base.String()+"/tcbevaluationdatanumbers", "TCB-Evaluation-Data-Numbers-Issuer-Chain"
	case KindTDXTCBEvalNums:
		u, chainHeader = p.tdxBase+"/tcbevaluationdatanumbers", "TCB-Evaluation-Data-Numbers-Issuer-Chain"
	}
	if key.EvalNum != 0 {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += fmt.Sprintf("%stcbEvaluationDataNumber=%d", sep, key.EvalNum)
	}
	body, hdr, err := p.get(ctx, u)
	if err != nil {
		return nil, err
	}
	var chain []byte
	if chainHeader != "" {
		v := hdr.Get(chainHeader)
		if v == "" && (key.Kind == KindTCBInfo || key.Kind == KindTDXTCBInfo) {
			v = hdr.Get("SGX-TCB-Info-Issuer-Chain") // v3 API name
		}
		if v == "" {
			return nil, fmt.Errorf("%w: %s: no %s header", ErrUnavailable, u, chainHeader)
		}
		s, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: bad %s header", ErrUnavailable, u, chainHeader)
		}
		chain = []byte(s)
	}
	now := time.Now
	if p.opts.Now != nil {
		now = p.opts.Now
	}
	it, err := NewItem(key, body, chain, now())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, u, err)
	}
	return it, nil
}

func (p *PCS) get(ctx context.Context, u string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	for k, vs := range p.opts.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, u, err)
	}
	if len(body) > maxResponseSize {
		return nil, nil, fmt.Errorf("%w: %s: response too large", ErrUnavailable, u)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, nil, fmt.Errorf("%w: %s: 404 %s", ErrNotFound, u, resp.Header.Get("Error-Message"))
	case resp.StatusCode != http.StatusOK:
		return nil, nil, fmt.Errorf("%w: %s: HTTP %d %s", ErrUnavailable, u, resp.StatusCode, resp.Header.Get("Error-Message"))
	}
	return body, resp.Header, nil
}
