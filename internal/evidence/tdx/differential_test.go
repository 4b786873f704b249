package tdx

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
	"testing"

	gtabi "github.com/google/go-tdx-guest/abi"
	gtpcs "github.com/google/go-tdx-guest/pcs"
	gtpb "github.com/google/go-tdx-guest/proto/tdx"
	gtverify "github.com/google/go-tdx-guest/verify"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence/dcap"
	"github.com/maat-attest/maat/internal/testsupport/tdxvectors"
)

// go-tdx-guest is used here only as an independent oracle (decision D4): it
// accepts nothing but UpToDate and does not merge statuses, so it cannot be
// the verifier, but on the UpToDate vectors it must agree with us on the
// verdict and on every parsed field, and both must reject the same
// mutations.

// bundleGetter answers go-tdx-guest's PCS requests from a collateral bundle,
// never from the network.
type bundleGetter struct{ b *collateral.Bundle }

func (g bundleGetter) Get(u string) (map[string][]string, []byte, error) {
	hdr := func(k string, chain []byte) map[string][]string {
		return map[string][]string{k: {url.QueryEscape(string(chain))}}
	}
	switch {
	case strings.HasPrefix(u, gtpcs.TdxBaseURL+"/tcb?"):
		return hdr(gtpcs.TcbInfoIssuerChainPhrase, g.b.TCBInfo.IssuerChain), g.b.TCBInfo.Body, nil
	case u == gtpcs.QeIdentityURL():
		return hdr(gtpcs.SgxQeIdentityIssuerChainPhrase, g.b.QEIdentity.IssuerChain), g.b.QEIdentity.Body, nil
	case strings.HasPrefix(u, gtpcs.SgxBaseURL+"/pckcrl?"):
		return hdr(gtpcs.SgxPckCrlIssuerChainPhrase, g.b.PCKCRL.IssuerChain), g.b.PCKCRL.Body, nil
	case strings.HasSuffix(u, "IntelSGXRootCA.der"):
		return map[string][]string{}, g.b.RootCACRL.Body, nil
	}
	return nil, nil, fmt.Errorf("unexpected URL %s", u)
}

func oracle(t *testing.T, set, fmspc, at string, quote []byte) error {
	t.Helper()
	b, err := collateral.GetTDX(context.Background(), collateral.Dir{FS: tdxvectors.MustFS(set)}, fmspc, collateral.CAPlatform, 0)
	if err != nil {
		t.Fatal(err)
	}
	tm := mustTime(t, at)
	o := gtverify.DefaultOptions()
	o.GetCollateral, o.CheckRevocations = true, true
	o.Getter = bundleGetter{b}
	pool := x509.NewCertPool()
	pool.AddCert(dcap.IntelRoot().Cert)
	o.TrustedRoots = pool
	o.Now = &gtverify.TimeSet{PckCertChain: tm, TcbInfo: tm, QeIdentity: tm, PckCrl: tm, RootCaCrl: tm}
	return gtverify.RawTdxQuote(quote, o)
}

type gtBody interface {
	GetTeeTcbSvn() []byte
	GetMrSeam() []byte
	GetMrSignerSeam() []byte
	GetSeamAttributes() []byte
	GetTdAttributes() []byte
	GetXfam() []byte
	GetMrTd() []byte
	GetMrConfigId() []byte
	GetMrOwner() []byte
	GetMrOwnerConfig() []byte
	GetRtmrs() [][]byte
	GetReportData() []byte
}

func TestDifferentialGoTDXGuest(t *testing.T) {
	for _, tc := range []struct{ set, fmspc, at string }{
		{"dcapqvl_v4", "B0C06F000000", "2025-06-19T12:00:00Z"},
		{"gotdxguest_v5", "90C06F000000", "2026-02-20T00:00:00Z"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			q := readFile(t, tc.set, "quote.bin")
			res, err := newVerifier(t, tc.set, tc.at).Verify(context.Background(), q)
			if err != nil || res.TCBStatus != collateral.UpToDate {
				t.Fatalf("maat: %v %v", res, err)
			}
			if err := oracle(t, tc.set, tc.fmspc, tc.at, q); err != nil {
				t.Fatalf("go-tdx-guest rejects what Maat accepts: %v", err)
			}
			// Field by field.
			pq, err := gtabi.QuoteToProto(q)
			if err != nil {
				t.Fatal(err)
			}
			var body gtBody
			switch x := pq.(type) {
			case *gtpb.QuoteV4:
				body = x.GetTdQuoteBody()
			case *gtpb.QuoteV5:
				v5 := x.GetTdQuoteBodyDescriptor().GetTdQuoteBodyV5()
				body = v5
				if !bytes.Equal(v5.GetTeeTcbSvn2(), res.Report.TEETCBSVN2[:]) || !bytes.Equal(v5.GetMrServiceTd(), res.Report.MRServiceTD[:]) {
					t.Error("TD 1.5 fields differ")
				}
			}
			r := &res.Report
			for name, p := range map[string][2][]byte{
				"tee_tcb_svn": {body.GetTeeTcbSvn(), r.TEETCBSVN[:]}, "mrseam": {body.GetMrSeam(), r.MRSEAM[:]},
				"mrsignerseam": {body.GetMrSignerSeam(), r.MRSignerSEAM[:]}, "seam_attributes": {body.GetSeamAttributes(), r.SEAMAttributes[:]},
				"td_attributes": {body.GetTdAttributes(), r.TDAttributes[:]}, "xfam": {body.GetXfam(), r.XFAM[:]},
				"mrtd": {body.GetMrTd(), r.MRTD[:]}, "mrconfigid": {body.GetMrConfigId(), r.MRConfigID[:]},
				"mrowner": {body.GetMrOwner(), r.MROwner[:]}, "mrownerconfig": {body.GetMrOwnerConfig(), r.MROwnerConfig[:]},
				"report_data": {body.GetReportData(), r.ReportData[:]},
			} {
				if !bytes.Equal(p[0], p[1]) {
					t.Errorf("%s: go-tdx-guest %x, maat %x", name, p[0], p[1])
				}
			}
			for i, m := range body.GetRtmrs() {
				if !bytes.Equal(m, r.RTMR[i][:]) {
					t.Errorf("rtmr%d differs", i)
				}
			}
			// The same mutations are rejected by both (every 7th signed byte
			// keeps the oracle's share of the run short).
			mv := newVerifier(t, tc.set, tc.at)
			for i := 0; i < len(res.Quote.SignedData()); i += 7 {
				m := bytes.Clone(q)
				m[i] ^= 0x01
				_, merr := mv.Verify(context.Background(), m)
				if merr == nil {
					t.Fatalf("maat accepts byte %d flipped", i)
				}
				if oracle(t, tc.set, tc.fmspc, tc.at, m) == nil {
					t.Fatalf("go-tdx-guest accepts byte %d flipped", i)
				}
			}
		})
	}
	// On the non-UpToDate vectors go-tdx-guest refuses, as documented: it
	// cannot report those statuses, which is why it is not the verifier.
	for _, tc := range []struct{ set, fmspc, at string }{
		{"oe_v5_eval21", "00806F050000", "2026-06-15T00:00:00Z"},
		{"dcapqvl_v5_nomatch", "90C06F000000", "2026-02-20T00:00:00Z"},
	} {
		if err := oracle(t, tc.set, tc.fmspc, tc.at, readFile(t, tc.set, "quote.bin")); err == nil {
			t.Errorf("%s: go-tdx-guest accepted a non-UpToDate quote", tc.set)
		}
	}
}
