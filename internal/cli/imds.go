package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/maat-attest/maat/internal/jose"
)

// defaultIMDS is Azure's Instance Metadata Service, reachable from inside
// every Azure VM (never through a proxy).
const defaultIMDS = "http://169.254.169.254"

// imdsMaxResponse bounds what is read from IMDS (a TD quote is ~5 kB, a
// VCEK chain ~6 kB).
const imdsMaxResponse = 1 << 20

// imds asks an Azure VM's host for what the guest cannot make itself: the
// TD quote of a TDREPORT and the VCEK chain of the SEV-SNP chip, as
// Microsoft's guest-attestation clients do (contract §3.6, §4.1).
type imds struct {
	base   string
	client *http.Client
}

func newIMDS(base string) imds {
	// No proxy: IMDS answers only on the link-local address.
	tr := &http.Transport{Proxy: nil, ResponseHeaderTimeout: 20 * time.Second}
	return imds{base: strings.TrimRight(base, "/"), client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// tdQuote POSTs {"report": b64url(TDREPORT)} to /acc/tdquote and returns the
// decoded {"quote"}.
func (m imds) tdQuote(ctx context.Context, tdreport []byte) ([]byte, error) {
	body, _ := json.Marshal(map[string]string{"report": base64.RawURLEncoding.EncodeToString(tdreport)})
	var out struct {
		Quote string `json:"quote"`
	}
	if err := m.call(ctx, http.MethodPost, "/acc/tdquote", body, &out); err != nil {
		return nil, err
	}
	if out.Quote == "" {
		return nil, fmt.Errorf("IMDS %s/acc/tdquote answered without a quote", m.base)
	}
	q, err := jose.DecodeB64Loose(out.Quote)
	if err != nil {
		return nil, fmt.Errorf("IMDS %s/acc/tdquote: the quote is not base64: %w", m.base, err)
	}
	return q, nil
}

// vcekChain GETs the THIM certification and returns its VCEK followed by
// its chain (ASK, ARK) as PEM.
func (m imds) vcekChain(ctx context.Context) ([]byte, error) {
	var out struct {
		VCEKCert         string `json:"vcekCert"`
		CertificateChain string `json:"certificateChain"`
	}
	const path = "/metadata/THIM/amd/certification"
	if err := m.call(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	if !strings.Contains(out.VCEKCert, "-----BEGIN CERTIFICATE-----") {
		return nil, fmt.Errorf("IMDS %s%s answered without a PEM vcekCert", m.base, path)
	}
	return []byte(strings.TrimSpace(out.VCEKCert) + "\n" + strings.TrimSpace(out.CertificateChain) + "\n"), nil
}

func (m imds) call(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, m.base+path, rd)
	if err != nil {
		return fmt.Errorf("IMDS %s%s: %w", m.base, path, err)
	}
	req.Header.Set("Metadata", "true")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return fmt.Errorf("IMDS %s%s (is this an Azure VM?): %w", m.base, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, imdsMaxResponse+1))
	if err != nil {
		return fmt.Errorf("IMDS %s%s: %w", m.base, path, err)
	}
	if len(b) > imdsMaxResponse {
		return fmt.Errorf("IMDS %s%s: answer over %d bytes", m.base, path, imdsMaxResponse)
	}
	if resp.StatusCode != http.StatusOK {
		msg := string(b)
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return fmt.Errorf("IMDS %s%s: HTTP %d: %s", m.base, path, resp.StatusCode, strings.TrimSpace(msg))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("IMDS %s%s: the answer is not the expected JSON: %w", m.base, path, err)
	}
	return nil
}
