package sevsnp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/veraison/go-cose"
)

// uvmPKI is a test PKI shaped like Microsoft's UVM signing chain: root CA →
// intermediate CA → signer with the ContainerPlat EKU.
type uvmPKI struct {
	root, inter, leaf *x509.Certificate
	leafKey           crypto.Signer
	did               string
}

var uvmEKU = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 76, 59, 1, 2}

func newUVMPKI(t testing.TB) *uvmPKI {
	t.Helper()
	mk := func(cn string, parent *x509.Certificate, parentKey crypto.Signer, ca bool) (*x509.Certificate, crypto.Signer) {
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tpl := &x509.Certificate{
			SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: pinTAV.Add(-24 * time.Hour), NotAfter: pinTAV.Add(365 * 24 * time.Hour),
			BasicConstraintsValid: true, IsCA: ca,
		}
		if ca {
			tpl.KeyUsage = x509.KeyUsageCertSign
		} else {
			tpl.KeyUsage = x509.KeyUsageDigitalSignature
			tpl.UnknownExtKeyUsage = []asn1.ObjectIdentifier{uvmEKU}
		}
		if parent == nil {
			parent, parentKey = tpl, k
		}
		der, err := x509.CreateCertificate(rand.Reader, tpl, parent, k.Public(), parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, k
	}
	p := &uvmPKI{}
	var rk, ik crypto.Signer
	p.root, rk = mk("Test Supply Chain Root", nil, nil, true)
	p.inter, ik = mk("Test SCD Products CA", p.root, rk, true)
	p.leaf, p.leafKey = mk("ContainerPlat", p.inter, ik, false)
	fp := sha256.Sum256(p.root.Raw)
	p.did = "did:x509:0:sha256:" + base64.RawURLEncoding.EncodeToString(fp[:]) + "::eku:1.3.6.1.4.1.311.76.59.1.2"
	return p
}

func (p *uvmPKI) sign(t testing.TB, iss, feed string, payload map[string]string) []byte {
	t.Helper()
	body, _ := json.Marshal(payload)
	signer, err := cose.NewSigner(cose.AlgorithmES384, p.leafKey)
	if err != nil {
		t.Fatal(err)
	}
	hdr := cose.Headers{Protected: cose.ProtectedHeader{
		cose.HeaderLabelAlgorithm:   cose.AlgorithmES384,
		cose.HeaderLabelContentType: "application/json",
		cose.HeaderLabelX5Chain:     []any{p.leaf.Raw, p.inter.Raw, p.root.Raw},
		"iss":                       iss,
		"feed":                      feed,
	}}
	b, err := cose.Sign1(rand.Reader, signer, hdr, body, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUVMEndorsement(t *testing.T) {
	pki := newUVMPKI(t)
	vec := tavVector(t, "milan")
	r, _ := ParseReport(vec.report)
	lm := hex.EncodeToString(r.Measurement[:])
	good := pki.sign(t, pki.did, "ContainerPlat-AMD-UVM", map[string]string{ClaimGuestSVN: "100", ClaimMeasurement: lm})
	issuers := []UVMIssuer{{DID: pki.did, Feed: "ContainerPlat-AMD-UVM", GrantsCompliance: true}}

	u, err := VerifyEndorsement(good, r, issuers, pinTAV)
	if err != nil || u == nil || u.Claims[ClaimGuestSVN] != "100" {
		t.Fatalf("good endorsement: %v %v", u, err)
	}
	// Through the adapter: the claim and compliance.
	raw, _ := json.Marshal(map[string]string{"SnpReport": b64url(vec.report), "VcekCertChain": b64url(vec.chain),
		"Endorsements": b64url(mustJSON(map[string][]string{"Uvm": {b64url(good)}}))})
	v := newTestVerifier(t, pinTAV, func(o *Options) { o.UVMIssuers = issuers })
	vd, err := v.Verify(context.Background(), raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if vd.Claims[ClaimCompliance] != CompliantUVM {
		t.Errorf("compliance %v", vd.Claims[ClaimCompliance])
	}
	if m, _ := vd.Claims[ClaimUVMEndorsement].(map[string]any); m[ClaimMeasurement] != lm {
		t.Errorf("uvm claim %v", vd.Claims[ClaimUVMEndorsement])
	}
	// Without configured issuers the endorsement is ignored.
	vd, err = newTestVerifier(t, pinTAV, nil).Verify(context.Background(), raw, nil)
	if err != nil || vd.Claims[ClaimUVMEndorsement] != nil || vd.Claims[ClaimCompliance] != nil {
		t.Fatalf("unconfigured: %v %v", err, vd.Claims[ClaimUVMEndorsement])
	}

	other := newUVMPKI(t)
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"other measurement", pki.sign(t, pki.did, "ContainerPlat-AMD-UVM", map[string]string{ClaimMeasurement: hex.EncodeToString(make([]byte, 48))}), ErrEndorsement},
		{"signed by another PKI claiming the DID", other.sign(t, pki.did, "ContainerPlat-AMD-UVM", map[string]string{ClaimMeasurement: lm}), ErrEndorsement},
		{"not COSE", []byte{1, 2, 3}, ErrMalformedEndorse},
	} {
		if _, err := VerifyEndorsement(c.b, r, issuers, pinTAV); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Tampered signature.
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1
	if _, err := VerifyEndorsement(bad, r, issuers, pinTAV); !errors.Is(err, ErrEndorsement) {
		t.Errorf("tampered: %v", err)
	}
	// Other feed or issuer: ignored.
	if u, err := VerifyEndorsement(pki.sign(t, pki.did, "OtherFeed", map[string]string{ClaimMeasurement: lm}), r, issuers, pinTAV); u != nil || err != nil {
		t.Errorf("other feed: %v %v", u, err)
	}
	// Expired signer.
	if _, err := VerifyEndorsement(good, r, issuers, pinTAV.Add(2*365*24*time.Hour)); !errors.Is(err, ErrEndorsement) {
		t.Errorf("expired: %v", err)
	}
}

func TestParseDIDX509(t *testing.T) {
	ms := "did:x509:0:sha256:I__iuL25oXEVFdTP_aBLx_eT1RPHbCQ_ECBQfYZpt9s::eku:1.3.6.1.4.1.311.76.59.1.2"
	d, err := parseDIDX509(ms)
	if err != nil || len(d.fp) != 32 || d.ekus[0] != "1.3.6.1.4.1.311.76.59.1.2" {
		t.Fatalf("%v %+v", err, d)
	}
	for _, bad := range []string{"did:web:x", "did:x509:0:sha256:AA::eku:1.2", "did:x509:0:md5:" + base64.RawURLEncoding.EncodeToString(make([]byte, 16)) + "::eku:1.2",
		"did:x509:0:sha256:I__iuL25oXEVFdTP_aBLx_eT1RPHbCQ_ECBQfYZpt9s", "did:x509:0:sha256:I__iuL25oXEVFdTP_aBLx_eT1RPHbCQ_ECBQfYZpt9s::san:x"} {
		if _, err := parseDIDX509(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }
