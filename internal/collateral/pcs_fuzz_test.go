package collateral

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
)

// pcsReply is what one fuzzed PCS round trip answers.
type pcsReply struct {
	status int
	header http.Header
	body   []byte
}

// replyTransport answers every request with reply, without a network.
type replyTransport struct{ reply pcsReply }

func (rt replyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: rt.reply.status,
		Status:     http.StatusText(rt.reply.status),
		Header:     rt.reply.header.Clone(),
		Body:       io.NopCloser(bytes.NewReader(rt.reply.body)),
		Request:    r,
	}, nil
}

var pcsFuzzKeys = []Key{
	{Kind: KindTCBInfo, FMSPC: "00906ED50000"},
	{Kind: KindQEIdentity},
	{Kind: KindPCKCRL, CA: "processor"},
	{Kind: KindRootCACRL},
}

var pcsChainHeaders = []string{"TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain", "SGX-Enclave-Identity-Issuer-Chain", "SGX-PCK-CRL-Issuer-Chain"}

// fetchReply runs PCS.Fetch for key against a transport answering reply,
// at a pinned time.
func fetchReply(key Key, reply pcsReply) (*Item, error) {
	opts := DefaultPCSOptions()
	opts.BaseURL = "https://pccs.test/sgx/certification/v4"
	opts.Client = &http.Client{Transport: replyTransport{reply}}
	opts.Now = func() time.Time { return time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC) }
	p, err := NewPCS(opts)
	if err != nil {
		panic(err)
	}
	return p.Fetch(context.Background(), key)
}

// pcsRawSeed returns a recorded Intel PCS response: the body and the
// issuer chain as the PCS sends it (URL-encoded PEM in a header).
func pcsRawSeed(f *testing.F, name, bodyMember string) (header string, body []byte) {
	b, err := sgxvectors.Read("pcs2025raw", name)
	if err != nil {
		f.Fatal(err)
	}
	var raw map[string]string
	if err := json.Unmarshal(b, &raw); err != nil {
		f.Fatal(err)
	}
	body = []byte(raw[bodyMember])
	if bodyMember == "crl_data_base64" {
		body, _ = base64.StdEncoding.DecodeString(raw[bodyMember])
	}
	return url.QueryEscape(raw["issuer_chain"]), body
}

// FuzzPCSResponse fuzzes what a PCS (or PCCS, or a man in the middle of a
// misconfigured deployment) answers: status, issuer-chain header and body,
// for each kind of collateral. Fetch never panics; every failure wraps
// ErrUnavailable or ErrNotFound; a success carries the unescaped header as
// its chain and copies of the bytes; and the same answer always gives the
// same result (determinism).
func FuzzPCSResponse(f *testing.F) {
	for i, seed := range []struct{ file, member string }{
		{"sgx_tcb_info_00906ED50000.json", "tcb_info_json"},
		{"sgx_qe_identity.json", "enclave_identity_json"},
		{"pck_crl_processor_der.json", "crl_data_base64"},
	} {
		h, body := pcsRawSeed(f, seed.file, seed.member)
		f.Add(uint8(i), uint8(0), uint8(0), h, body)
		f.Add(uint8(i), uint8(0), uint8(0), h+"%", body)        // bad escape
		f.Add(uint8(i), uint8(0), uint8(0), h[:len(h)/2], body) // truncated chain
		f.Add(uint8(i), uint8(1), uint8(0), h, body)            // 404
	}
	h, body := pcsRawSeed(f, "sgx_tcb_info_00906ED50000.json", "tcb_info_json")
	f.Add(uint8(0), uint8(0), uint8(1), h, body) // the v3 header name
	root, err := sgxvectors.Read("dcapqvl", "root_ca_crl.der")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(3), uint8(0), uint8(0), "", root)
	f.Fuzz(func(t *testing.T, kind, status, headerName uint8, header string, body []byte) {
		key := pcsFuzzKeys[int(kind)%len(pcsFuzzKeys)]
		reply := pcsReply{status: []int{200, 404, 500, 200}[status%4], header: http.Header{}, body: bytes.Clone(body)}
		name := ""
		switch key.Kind {
		case KindTCBInfo:
			name = pcsChainHeaders[int(headerName)%2]
		case KindQEIdentity:
			name = pcsChainHeaders[2]
		case KindPCKCRL:
			name = pcsChainHeaders[3]
		}
		if name != "" && header != "" {
			reply.header.Set(name, header)
		}
		reply.header.Set("Error-Message", header) // echoed on non-200: must not matter
		it1, err1 := fetchReply(key, reply)
		it2, err2 := fetchReply(key, reply)
		if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) || !reflect.DeepEqual(it1, it2) {
			t.Fatalf("nondeterministic: %v / %v", err1, err2)
		}
		if err1 != nil {
			if !errors.Is(err1, ErrUnavailable) && !errors.Is(err1, ErrNotFound) {
				t.Fatalf("error %v wraps neither ErrUnavailable nor ErrNotFound", err1)
			}
			if reply.status == 404 && !errors.Is(err1, ErrNotFound) {
				t.Fatalf("404 gave %v", err1)
			}
			return
		}
		if reply.status != 200 {
			t.Fatalf("HTTP %d gave an item", reply.status)
		}
		if name != "" {
			want, _ := url.QueryUnescape(header)
			if string(it1.IssuerChain) != want {
				t.Fatal("the item's chain is not the unescaped header")
			}
		}
		if len(it1.Body) > 0 && len(body) > 0 && &it1.Body[0] == &body[0] {
			t.Fatal("the item aliases the response body")
		}
		if it1.NextUpdate.IsZero() {
			t.Fatal("an item without nextUpdate")
		}
	})
}
