package sevsnp

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/veraison/go-cose"
)

// UVMIssuer is a trusted issuer of UVM endorsements (ACI's utility-VM
// measurements): a did:x509 DID and, optionally, the feed it must name.
// Microsoft's is
// did:x509:0:sha256:I__iuL25oXEVFdTP_aBLx_eT1RPHbCQ_ECBQfYZpt9s::eku:1.3.6.1.4.1.311.76.59.1.2
// with feed ContainerPlat-AMD-UVM; Maat trusts none unless configured.
type UVMIssuer struct {
	DID  string
	Feed string
	// GrantsCompliance: a valid endorsement from this issuer yields
	// x-ms-compliance-status azure-compliant-uvm.
	GrantsCompliance bool
}

// Endorsement is a parsed (not yet verified) UVM endorsement COSE_Sign1.
type Endorsement struct {
	msg         *cose.Sign1Message
	Alg         cose.Algorithm
	ContentType string
	Issuer      string
	Feed        string
	// Chain is x5chain: leaf first.
	Chain   []*x509.Certificate
	Payload []byte
	// Claims is the payload JSON object (MAA emits it as sent: string values).
	Claims map[string]any
}

// ParseEndorsement parses a COSE_Sign1 UVM endorsement (tagged or not): its
// protected header (alg, content type, x5chain, iss and feed as text labels
// or in the CWT claims), and its JSON payload. It checks structure only and
// returns an error wrapping ErrMalformedEndorse.
func ParseEndorsement(b []byte) (*Endorsement, error) {
	if len(b) > MaxEndorsementSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d allowed", ErrMalformedEndorse, len(b), MaxEndorsementSize)
	}
	b = bytes.Clone(b)
	msg := cose.NewSign1Message()
	if len(b) > 0 && b[0] == 0xd2 {
		if err := msg.UnmarshalCBOR(b); err != nil {
			return nil, fmt.Errorf("%w: not a COSE_Sign1: %v", ErrMalformedEndorse, err)
		}
	} else {
		var um cose.UntaggedSign1Message
		if err := um.UnmarshalCBOR(b); err != nil {
			return nil, fmt.Errorf("%w: not a COSE_Sign1: %v", ErrMalformedEndorse, err)
		}
		msg = (*cose.Sign1Message)(&um)
	}
	e := &Endorsement{msg: msg, Payload: msg.Payload}
	ph := msg.Headers.Protected
	alg, err := ph.Algorithm()
	if err != nil {
		return nil, fmt.Errorf("%w: protected header has no usable alg: %v", ErrMalformedEndorse, err)
	}
	e.Alg = alg
	if ct, ok := ph[cose.HeaderLabelContentType].(string); ok {
		e.ContentType = ct
	}
	switch x := ph[cose.HeaderLabelX5Chain].(type) {
	case []byte:
		c, err := x509.ParseCertificate(x)
		if err != nil {
			return nil, fmt.Errorf("%w: x5chain: %v", ErrMalformedEndorse, err)
		}
		e.Chain = []*x509.Certificate{c}
	case []any:
		if len(x) > maxChainCerts {
			return nil, fmt.Errorf("%w: x5chain has %d certificates, at most %d allowed", ErrMalformedEndorse, len(x), maxChainCerts)
		}
		for i, v := range x {
			der, ok := v.([]byte)
			if !ok {
				return nil, fmt.Errorf("%w: x5chain[%d] is not a byte string", ErrMalformedEndorse, i)
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("%w: x5chain[%d]: %v", ErrMalformedEndorse, i, err)
			}
			e.Chain = append(e.Chain, c)
		}
	default:
		return nil, fmt.Errorf("%w: protected header has no x5chain", ErrMalformedEndorse)
	}
	if len(e.Chain) == 0 {
		return nil, fmt.Errorf("%w: x5chain is empty", ErrMalformedEndorse)
	}
	if s, ok := ph["iss"].(string); ok {
		e.Issuer = s
	}
	if s, ok := ph["feed"].(string); ok {
		e.Feed = s
	}
	if cwt, ok := ph[cose.HeaderLabelCWTClaims].(map[any]any); ok {
		for k, v := range cwt {
			s, _ := v.(string)
			switch k {
			case int64(1), uint64(1):
				if e.Issuer == "" {
					e.Issuer = s
				}
			case int64(2), uint64(2):
				if e.Feed == "" {
					e.Feed = s
				}
			}
		}
	}
	if e.Issuer == "" {
		return nil, fmt.Errorf("%w: protected header has no issuer (iss)", ErrMalformedEndorse)
	}
	if len(e.Payload) == 0 {
		return nil, fmt.Errorf("%w: the payload is empty (detached payloads are not supported)", ErrMalformedEndorse)
	}
	if err := json.Unmarshal(e.Payload, &e.Claims); err != nil || e.Claims == nil {
		return nil, fmt.Errorf("%w: the payload is not a JSON object", ErrMalformedEndorse)
	}
	return e, nil
}

// didX509 is a parsed did:x509 (version 0): a CA fingerprint and policies.
type didX509 struct {
	hash    string
	fp      []byte
	ekus    []string
	subject map[string]string
}

// parseDIDX509 parses did:x509:0:<alg>:<b64url fingerprint>::<policy>:<value>...
// with policies eku and subject (key:value pairs, percent-encoded values).
func parseDIDX509(did string) (*didX509, error) {
	rest, ok := strings.CutPrefix(did, "did:x509:0:")
	if !ok {
		return nil, fmt.Errorf("%q is not a did:x509 version 0 DID", did)
	}
	parts := strings.Split(rest, "::")
	head := strings.SplitN(parts[0], ":", 2)
	if len(head) != 2 {
		return nil, fmt.Errorf("%q: want did:x509:0:<hash>:<fingerprint>::<policy>", did)
	}
	d := &didX509{hash: head[0], subject: map[string]string{}}
	fp, err := base64.RawURLEncoding.DecodeString(head[1])
	if err != nil {
		return nil, fmt.Errorf("%q: fingerprint is not base64url: %v", did, err)
	}
	want := map[string]int{"sha256": 32, "sha384": 48, "sha512": 64}[d.hash]
	if want == 0 || len(fp) != want {
		return nil, fmt.Errorf("%q: fingerprint must be sha256, sha384 or sha512 of the right length", did)
	}
	d.fp = fp
	if len(parts) < 2 {
		return nil, fmt.Errorf("%q: a did:x509 needs at least one policy", did)
	}
	for _, p := range parts[1:] {
		name, val, ok := strings.Cut(p, ":")
		if !ok {
			return nil, fmt.Errorf("%q: policy %q has no value", did, p)
		}
		switch name {
		case "eku":
			d.ekus = append(d.ekus, val)
		case "subject":
			kv := strings.Split(val, ":")
			if len(kv)%2 != 0 {
				return nil, fmt.Errorf("%q: subject policy needs key:value pairs", did)
			}
			for i := 0; i < len(kv); i += 2 {
				v := strings.ReplaceAll(kv[i+1], "%20", " ")
				d.subject[strings.ToUpper(kv[i])] = v
			}
		default:
			return nil, fmt.Errorf("%q: unsupported did:x509 policy %q (eku and subject are supported)", did, name)
		}
	}
	return d, nil
}

// match checks the DID against a chain (leaf first) at time at: a CA
// certificate after the leaf has the fingerprint, the leaf chains to it,
// and the leaf satisfies every policy.
func (d *didX509) match(chain []*x509.Certificate, at time.Time) error {
	var anchor *x509.Certificate
	for _, c := range chain[1:] {
		var sum []byte
		switch d.hash {
		case "sha256":
			s := sha256.Sum256(c.Raw)
			sum = s[:]
		case "sha384":
			s := sha512.Sum384(c.Raw)
			sum = s[:]
		case "sha512":
			s := sha512.Sum512(c.Raw)
			sum = s[:]
		}
		if bytes.Equal(sum, d.fp) {
			anchor = c
			break
		}
	}
	if anchor == nil {
		return fmt.Errorf("no CA certificate in x5chain has the DID's %s fingerprint", d.hash)
	}
	roots := x509.NewCertPool()
	roots.AddCert(anchor)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		if c != anchor {
			inter.AddCert(c)
		}
	}
	leaf := chain[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("x5chain does not chain to the DID's CA: %v", err)
	}
	for _, want := range d.ekus {
		oid, err := parseOID(want)
		if err != nil {
			return err
		}
		found := false
		for _, u := range leaf.UnknownExtKeyUsage {
			if u.Equal(oid) {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("the signing certificate lacks EKU %s", want)
		}
	}
	for k, v := range d.subject {
		var got []string
		switch k {
		case "CN":
			got = []string{leaf.Subject.CommonName}
		case "O":
			got = leaf.Subject.Organization
		case "OU":
			got = leaf.Subject.OrganizationalUnit
		case "C":
			got = leaf.Subject.Country
		case "L":
			got = leaf.Subject.Locality
		case "ST", "S":
			got = leaf.Subject.Province
		default:
			return fmt.Errorf("unsupported subject attribute %q in did:x509", k)
		}
		ok := false
		for _, g := range got {
			ok = ok || g == v
		}
		if !ok {
			return fmt.Errorf("the signing certificate's subject %s is not %q", k, v)
		}
	}
	return nil
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	for _, p := range strings.Split(s, ".") {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || fmt.Sprint(n) != p {
			return nil, fmt.Errorf("did:x509 EKU %q is not an OID", s)
		}
		oid = append(oid, n)
	}
	if len(oid) < 2 {
		return nil, fmt.Errorf("did:x509 EKU %q is not an OID", s)
	}
	return oid, nil
}

// UVMResult is a verified UVM endorsement.
type UVMResult struct {
	Issuer UVMIssuer
	Claims map[string]any
}

// VerifyEndorsement verifies a UVM endorsement against the trusted issuers
// at time at: the issuer and feed must be configured, the x5chain must
// satisfy the did:x509, the COSE signature must verify with the x5chain
// leaf, and the payload's x-ms-sevsnpvm-launchmeasurement must equal the
// report's MEASUREMENT. It returns (nil, nil) when the issuer is not one of
// issuers (the endorsement is then ignored), and an error wrapping
// ErrMalformedEndorse or ErrEndorsement otherwise.
func VerifyEndorsement(b []byte, r *Report, issuers []UVMIssuer, at time.Time) (*UVMResult, error) {
	e, err := ParseEndorsement(b)
	if err != nil {
		return nil, err
	}
	var iss *UVMIssuer
	for i := range issuers {
		if issuers[i].DID == e.Issuer && (issuers[i].Feed == "" || issuers[i].Feed == e.Feed) {
			iss = &issuers[i]
			break
		}
	}
	if iss == nil {
		return nil, nil
	}
	d, err := parseDIDX509(iss.DID)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEndorsement, err)
	}
	if err := d.match(e.Chain, at); err != nil {
		return nil, fmt.Errorf("%w: issuer %s: %v", ErrEndorsement, e.Issuer, err)
	}
	ver, err := cose.NewVerifier(e.Alg, e.Chain[0].PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: alg %v does not fit the signing key: %v", ErrEndorsement, e.Alg, err)
	}
	if err := e.msg.Verify(nil, ver); err != nil {
		return nil, fmt.Errorf("%w: the COSE_Sign1 signature does not verify: %v", ErrEndorsement, err)
	}
	lm, _ := e.Claims[ClaimMeasurement].(string)
	got, err := hex.DecodeString(lm)
	if err != nil || !bytes.Equal(got, r.Measurement[:]) {
		return nil, fmt.Errorf("%w: the endorsed launch measurement %.16s… is not the report's MEASUREMENT %x…", ErrEndorsement, lm, r.Measurement[:8])
	}
	return &UVMResult{Issuer: *iss, Claims: e.Claims}, nil
}
