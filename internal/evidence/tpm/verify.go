package tpm

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/jsonstrict"
	"github.com/maat-attest/maat/internal/maaerr"
)

// Limits on request contents.
const (
	maxOtherKeys      = 2
	maxCustomClaims   = 64
	maxCustomNameLen  = 256
	maxCustomValueLen = 8192
	maxPCRIndex       = 31
	maxCertBytes      = 16 << 10
	maxJSONDepth      = 32
)

// Key binding methods (PROTOCOL.md "Key objects").
const (
	BindingNone       = "none"
	BindingTPMQuote   = "tpm_quote"
	BindingTPMCertify = "tpm_certify"
)

// PCR is one entry of MAA's "pcrs" claim: digests by bank, in lowercase hex.
type PCR struct {
	Index   int               `json:"Index"`
	Digests map[string]string `json:"Digests"`
}

// Key is a verified request key or other key.
type Key struct {
	Public  crypto.PublicKey
	JWK     json.RawMessage // as received
	Binding string          // BindingNone, BindingTPMQuote or BindingTPMCertify
	// PolicyObject is MAA's "policy key object" for this key (the
	// x-ms-tpm-request-key / x-ms-tpm-other-keys claim values).
	PolicyObject map[string]any
}

// Result is what Verify established. Optional booleans are nil when the
// evidence does not say.
type Result struct {
	AIKValidated bool
	// AIKRoot is the subject common name of the root aik_cert chained to
	// ("" unless AIKValidated).
	AIKRoot    string
	AIKPubHash string // base64(SHA-256(PKIX DER of the AIK public key))
	AIKPublic  crypto.PublicKey
	TPMVersion int

	SecureBootEnabled     *bool
	BootDebuggingDisabled *bool
	NotSafeMode           *bool
	NotWinPE              *bool
	IOMMUEnabled          *bool
	VBSEnabled            *bool

	PCRs       []PCR
	Events     []Event
	BootEvents []Event // nil without boot_attestation

	RequestKey Key
	// RequestKeyJWK is the request key as a public JWK, for the token's
	// "cnf": {"jwk": RequestKeyJWK}.
	RequestKeyJWK map[string]any
	OtherKeys     []Key

	RPID   string
	RPData []byte // nil when absent

	// CustomClaims maps the prefixed claim type to a string, int64 or bool.
	CustomClaims map[string]any

	// Claims are the incoming claims for the policy engine, issued by
	// AttestationService: bool, int64, or string values; JSON-valued claims
	// ("events", "bootEvents", "pcrs", "x-ms-tpm-request-key",
	// "x-ms-tpm-other-keys") hold compact JSON text. Custom claims are in
	// CustomClaims, not here, because their issuer is CustomClaim.
	Claims map[string]any
}

// ReadOnlyClaims are the claim types whose values must not be issued into a
// token ("PCRS are only read-only", policy-version-1-2.md).
var ReadOnlyClaims = []string{"pcrs"}

// Verify verifies a Request message's JWS (Message.Request) and returns the
// verified claims. Errors: InvalidOperation for request v1 and vbs/vsm
// requests; InvalidParameter for malformed requests, a bad, used or expired
// service context, a wrong challenge, or a JWS not signed by request_key;
// InvalidQuote for evidence that does not verify; ServiceUnavailable when
// the replay set is full.
func (s *Service) Verify(ctx context.Context, request string, vo VerifyOptions) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.opts.Now()
	if len(request) > s.opts.MaxMessageBytes {
		return nil, maaerr.New(maaerr.PayloadTooLarge, "TPM request of %d bytes exceeds the limit of %d", len(request), s.opts.MaxMessageBytes)
	}
	jws, err := jose.ParseLimit(request, s.opts.MaxMessageBytes)
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "malformed TPM request JWS")
	}
	switch jws.Header.Typ {
	case TypRequestV2:
	case TypRequestV1:
		return nil, maaerr.New(maaerr.InvalidOperation, "TPM request message v1 (typ attReq) is not supported; send a v2 request (typ attReqV2)")
	default:
		return nil, maaerr.New(maaerr.InvalidParameter, "TPM request JWS typ %q is not attReqV2", jws.Header.Typ)
	}
	if jws.Header.Alg != "PS256" {
		return nil, maaerr.New(maaerr.InvalidParameter, "TPM request JWS alg %q is not PS256", jws.Header.Alg)
	}
	if len(jws.Header.Crit) > 0 {
		return nil, maaerr.New(maaerr.InvalidParameter, "TPM request JWS has unsupported crit header parameters")
	}
	if err := jsonstrict.Check(jws.Payload, true, maxJSONDepth); err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "malformed TPM request payload: %v", err)
	}
	var rp RequestPayload
	if err := json.Unmarshal(jws.Payload, &rp); err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "malformed TPM request payload")
	}
	switch rp.AttType {
	case "basic":
	case "vbs", "vsm":
		return nil, maaerr.New(maaerr.InvalidOperation, "TPM request att_type %q (VBS enclave report) is not supported; only \"basic\" is", rp.AttType)
	default:
		return nil, maaerr.New(maaerr.InvalidParameter, "TPM request att_type %q is not supported; only \"basic\" is", rp.AttType)
	}
	if rp.AttData == nil {
		return nil, maaerr.New(maaerr.InvalidParameter, "TPM request has no att_data")
	}
	ad := rp.AttData
	if len(ad.AttestKey) > 0 || len(ad.ReportSigned) > 0 || (ad.TPMAttData != nil && (ad.TPMAttData.CurrentClaim != "" || ad.TPMAttData.SRTMBootLog != "")) {
		return nil, maaerr.New(maaerr.InvalidOperation, "TPM request v1 fields (attest_key, current_claim, srtm_boot_log, report_signed) are not supported")
	}
	if ad.RequestKey == nil {
		return nil, maaerr.New(maaerr.InvalidParameter, "TPM request has no request_key")
	}
	reqPub, err := jose.PublicKeyFromJWK(ad.RequestKey.JWK)
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "invalid request_key")
	}
	// Proof of possession: the request key signs the request.
	if err := jws.Verify(reqPub); err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "the TPM request JWS is not signed by its request_key")
	}

	// Freshness: the sealed context names the challenge the client must echo
	// and quote.
	sc, err := s.openContext(ad.ServiceContext, now)
	if err != nil {
		return nil, err
	}
	challenge, err := decodeB64(ad.Challenge)
	if err != nil || subtle.ConstantTimeCompare(challenge, sc.Challenge) != 1 {
		return nil, maaerr.New(maaerr.InvalidParameter, "the request challenge does not match the service_context")
	}
	if ok, full := s.used.use(sc.Challenge, sc.Expiry, now.Unix()); !ok {
		if full {
			return nil, maaerr.New(maaerr.ServiceUnavailable, "too many outstanding TPM challenges; retry later")
		}
		return nil, maaerr.New(maaerr.InvalidParameter, "the service_context was already used; start again with an Init message")
	}

	if ad.TPMAttData == nil || ad.TPMAttData.CurrentAttestation == nil {
		return nil, maaerr.New(maaerr.InvalidParameter, "TPM request has no tpm_att_data.current_attestation")
	}
	cur := ad.TPMAttData.CurrentAttestation

	res := &Result{TPMVersion: 2, RPID: ad.RPID}
	if ad.RPData != "" {
		if res.RPData, err = decodeB64(ad.RPData); err != nil {
			return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "rp_data is not base64url")
		}
	}

	// The AIK.
	aik, err := jose.PublicKeyFromJWK(cur.AIKPub)
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "invalid aik_pub")
	}
	res.AIKPublic = aik
	der, err := x509.MarshalPKIXPublicKey(aik)
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "invalid aik_pub")
	}
	h := sha256.Sum256(der)
	res.AIKPubHash = base64.StdEncoding.EncodeToString(h[:])
	res.AIKValidated, res.AIKRoot, err = s.checkAIKCert(cur.AIKCert, aik, now)
	if err != nil {
		return nil, err
	}
	if vo.RequireValidAIKCert && !res.AIKValidated {
		return nil, maaerr.New(maaerr.InvalidQuote, "the AIK certificate is missing or does not chain to a trusted root, and the policy requires one (require_valid_aik_cert is true). "+
			"Send aik_cert chaining to a root the server trusts (server option tpm-aik-root), or let the policy accept uncertified AIKs: configurationrules { => issueproperty(type=\"require_valid_aik_cert\", value=false); }. "+
			"maat serve --dev trusts the TPM simulator's development AIK CA")
	}

	// The request key binding decides the quote's qualifying data.
	reqKey, extra, err := s.bindRequestKey(ad.RequestKey, reqPub, challenge, aik)
	if err != nil {
		return nil, err
	}
	res.RequestKey = reqKey
	res.RequestKeyJWK = jose.PublicJWK(reqPub)

	quoted, events, err := verifyAttestation("current_attestation", cur, aik, extra)
	if err != nil {
		return nil, err
	}
	res.Events = events
	res.PCRs = pcrClaims(quoted)
	if missing := missingPCRs(quoted, vo.RequiredPCRMask); len(missing) > 0 {
		return nil, maaerr.New(maaerr.InvalidQuote, "the quote does not cover PCRs %v required by required_pcr_mask 0x%08x: quote them too (maat attest tpm quotes all 24 unless --pcrs narrows it), or lower the mask in the policy: configurationrules { => issueproperty(type=\"required_pcr_mask\", value=...); }", missing, vo.RequiredPCRMask)
	}

	if boot := ad.TPMAttData.BootAttestation; boot != nil {
		if len(boot.AIKPub) > 0 {
			bootAIK, err := jose.PublicKeyFromJWK(boot.AIKPub)
			if err != nil || !samePublicKey(aik, bootAIK) {
				return nil, maaerr.New(maaerr.InvalidQuote, "boot_attestation uses a different AIK")
			}
		}
		_, bootEvents, err := verifyAttestation("boot_attestation", boot, aik, nil)
		if err != nil {
			return nil, err
		}
		if bootEvents == nil {
			bootEvents = []Event{}
		}
		res.BootEvents = bootEvents
	}

	if len(ad.OtherKeys) > maxOtherKeys {
		return nil, maaerr.New(maaerr.InvalidParameter, "other_keys has %d keys; at most %d are allowed", len(ad.OtherKeys), maxOtherKeys)
	}
	for i := range ad.OtherKeys {
		k, err := verifyOtherKey(&ad.OtherKeys[i], challenge, aik)
		if err != nil {
			return nil, err
		}
		res.OtherKeys = append(res.OtherKeys, k)
	}

	if res.CustomClaims, err = customClaims(ad.CustomClaims, vo.CustomClaimPrefix); err != nil {
		return nil, err
	}

	st := deriveBootState(res.Events)
	res.SecureBootEnabled, res.BootDebuggingDisabled, res.NotSafeMode = st.SecureBootEnabled, st.BootDebuggingDisabled, st.NotSafeMode
	res.NotWinPE, res.IOMMUEnabled, res.VBSEnabled = st.NotWinPE, st.IOMMUEnabled, st.VBSEnabled
	res.Claims = res.buildClaims()
	return res, nil
}

// checkAIKCert returns whether aik_cert chains to the configured roots at
// now. A certificate whose key is not the AIK is an error, not merely
// unvalidated.
func (s *Service) checkAIKCert(encoded string, aik crypto.PublicKey, now time.Time) (bool, string, error) {
	if encoded == "" {
		return false, "", nil
	}
	der, err := decodeB64(encoded)
	if err != nil || len(der) > maxCertBytes {
		return false, "", maaerr.New(maaerr.InvalidParameter, "aik_cert is not base64url DER of at most %d bytes", maxCertBytes)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return false, "", maaerr.Wrap(err, maaerr.InvalidParameter, "aik_cert is not an X.509 certificate")
	}
	if !samePublicKey(aik, cert.PublicKey) {
		return false, "", maaerr.New(maaerr.InvalidQuote, "aik_cert certifies a key other than aik_pub")
	}
	if s.opts.AIKRoots == nil {
		return false, "", nil
	}
	chains, err := cert.Verify(x509.VerifyOptions{
		Roots:         s.opts.AIKRoots,
		Intermediates: s.opts.AIKIntermediates,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil || len(chains) == 0 {
		return false, "", nil
	}
	chain := chains[0]
	return true, chain[len(chain)-1].Subject.CommonName, nil
}

// bindRequestKey checks the request key's binding and returns the quote's
// expected qualifying data.
func (s *Service) bindRequestKey(ko *KeyObject, pub crypto.PublicKey, challenge []byte, aik crypto.PublicKey) (Key, []byte, error) {
	k := Key{Public: pub, JWK: ko.JWK, Binding: BindingNone, PolicyObject: map[string]any{"jwk": ko.JWK}}
	if ko.Info == nil || (ko.Info.TPMQuote == nil && ko.Info.TPMCertify == nil) {
		return k, challenge, nil
	}
	if ko.Info.TPMQuote != nil && ko.Info.TPMCertify != nil {
		return k, nil, maaerr.New(maaerr.InvalidParameter, "request_key.info has both tpm_quote and tpm_certify")
	}
	if q := ko.Info.TPMQuote; q != nil {
		var h crypto.Hash
		switch strings.ToLower(q.HashAlg) {
		case "sha-256", "sha256":
			h = crypto.SHA256
		case "sha-384", "sha384":
			h = crypto.SHA384
		case "sha-512", "sha512":
			h = crypto.SHA512
		default:
			return k, nil, maaerr.New(maaerr.InvalidParameter, "request_key.info.tpm_quote.hash_alg %q is not sha-256, sha-384 or sha-512", q.HashAlg)
		}
		d := h.New()
		d.Write(ko.JWK) // the exact bytes received
		d.Write([]byte{0})
		d.Write(challenge)
		k.Binding = BindingTPMQuote
		k.PolicyObject["info"] = map[string]any{"tpm_quote": map[string]any{"hash_alg": q.HashAlg}}
		return k, d.Sum(nil), nil
	}
	obj, err := verifyCertify("request_key", ko.Info.TPMCertify, pub, challenge, aik)
	if err != nil {
		return k, nil, err
	}
	k.Binding = BindingTPMCertify
	k.PolicyObject["info"] = map[string]any{"tpm_certify": obj}
	return k, challenge, nil
}

func verifyOtherKey(ko *KeyObject, challenge []byte, aik crypto.PublicKey) (Key, error) {
	pub, err := jose.PublicKeyFromJWK(ko.JWK)
	if err != nil {
		return Key{}, maaerr.Wrap(err, maaerr.InvalidParameter, "invalid other_keys jwk")
	}
	k := Key{Public: pub, JWK: ko.JWK, Binding: BindingNone, PolicyObject: map[string]any{"jwk": ko.JWK}}
	if ko.Info == nil {
		return k, nil
	}
	if ko.Info.TPMQuote != nil {
		return k, maaerr.New(maaerr.InvalidParameter, "other_keys cannot use the tpm_quote binding")
	}
	if ko.Info.TPMCertify == nil {
		return k, nil
	}
	obj, err := verifyCertify("other_keys", ko.Info.TPMCertify, pub, challenge, aik)
	if err != nil {
		return k, err
	}
	k.Binding = BindingTPMCertify
	k.PolicyObject["info"] = map[string]any{"tpm_certify": obj}
	return k, nil
}

// verifyCertify checks a TPM2_Certify of pub by the AIK with qualifyingData =
// challenge, and returns the policy view {name_alg, obj_attr, auth_policy}.
func verifyCertify(where string, c *TPMCertifyBinding, pub crypto.PublicKey, challenge []byte, aik crypto.PublicKey) (map[string]any, error) {
	bad := func(cause error, msg string) error {
		return maaerr.Wrap(cause, maaerr.InvalidQuote, "%s tpm_certify: %s", where, msg)
	}
	pubBytes, err1 := decodeB64(c.Public)
	certBytes, err2 := decodeB64(c.Certification)
	sigBytes, err3 := decodeB64(c.Signature)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "%s tpm_certify: fields are not base64url", where)
	}
	tpub, err := ParsePublic(pubBytes)
	if err != nil {
		return nil, bad(err, "malformed public")
	}
	key, err := tpm2.Pub(*tpub)
	if err != nil {
		return nil, bad(err, "unsupported public key")
	}
	if !samePublicKey(pub, key) {
		return nil, bad(nil, "public area is not the key in jwk")
	}
	att, err := ParseAttest(certBytes)
	if err != nil {
		return nil, bad(err, "malformed certification")
	}
	if att.Type != tpm2.TPMSTAttestCertify {
		return nil, bad(nil, "certification is not a TPM2_Certify attestation")
	}
	if subtle.ConstantTimeCompare(att.ExtraData.Buffer, challenge) != 1 {
		return nil, bad(nil, "certification is not bound to the challenge")
	}
	info, err := att.Attested.Certify()
	if err != nil {
		return nil, bad(err, "malformed certification")
	}
	name, err := tpm2.ObjectName(tpub)
	if err != nil || !bytes.Equal(name.Buffer, info.Name.Buffer) {
		return nil, bad(err, "certification names another object")
	}
	sig, err := ParseSignature(sigBytes)
	if err != nil {
		return nil, bad(err, "malformed signature")
	}
	if _, err := verifyTPMSignature(aik, sig, certBytes); err != nil {
		return nil, bad(err, "certification is not signed by the AIK")
	}
	obj := map[string]any{"name_alg": int64(tpub.NameAlg), "obj_attr": int64(objectAttributes(tpub))}
	if len(tpub.AuthPolicy.Buffer) > 0 {
		obj["auth_policy"] = base64.RawURLEncoding.EncodeToString(tpub.AuthPolicy.Buffer)
	}
	return obj, nil
}

// verifyAttestation checks one attestation object: the quote is a
// TPMS_ATTEST of type quote, signed by the AIK, with extraData equal to
// wantExtra (unless nil), whose PCR selection and digest match the reported
// PCR values; the logs replay to those values. It returns the quoted values
// by algorithm and index, and the verified events.
func verifyAttestation(where string, a *Attestation, aik crypto.PublicKey, wantExtra []byte) (map[uint16]map[int][]byte, []Event, error) {
	quoteBytes, err1 := decodeB64(a.Quote)
	sigBytes, err2 := decodeB64(a.Signature)
	if err := errors.Join(err1, err2); err != nil || len(quoteBytes) == 0 || len(sigBytes) == 0 {
		return nil, nil, maaerr.Wrap(err, maaerr.InvalidParameter, "%s: quote and signature must be non-empty base64url", where)
	}
	quote, err := ParseAttest(quoteBytes)
	if err != nil {
		return nil, nil, maaerr.Wrap(err, maaerr.InvalidQuote, "%s: malformed quote", where)
	}
	if quote.Type != tpm2.TPMSTAttestQuote {
		return nil, nil, maaerr.New(maaerr.InvalidQuote, "%s: the TPMS_ATTEST is not a quote (type 0x%04x)", where, uint16(quote.Type))
	}
	sig, err := ParseSignature(sigBytes)
	if err != nil {
		return nil, nil, maaerr.Wrap(err, maaerr.InvalidQuote, "%s: malformed signature", where)
	}
	if _, err := verifyTPMSignature(aik, sig, quoteBytes); err != nil {
		return nil, nil, maaerr.Wrap(err, maaerr.InvalidQuote, "%s: the quote is not signed by the AIK", where)
	}
	if wantExtra != nil && subtle.ConstantTimeCompare(quote.ExtraData.Buffer, wantExtra) != 1 {
		return nil, nil, maaerr.New(maaerr.InvalidQuote, "%s: the quote's qualifying data is not bound to the challenge", where)
	}
	info, err := quote.Attested.Quote()
	if err != nil {
		return nil, nil, maaerr.Wrap(err, maaerr.InvalidQuote, "%s: malformed quote", where)
	}
	quoted, concat, err := matchSelection(info.PCRSelect.PCRSelections, a.PCRs)
	if err != nil {
		return nil, nil, maaerr.Wrap(err, maaerr.InvalidQuote, "%s: reported PCRs do not match the quote's selection", where)
	}
	var d []byte
	switch len(info.PCRDigest.Buffer) {
	case sha1.Size:
		s := sha1.Sum(concat)
		d = s[:]
	case sha256.Size:
		s := sha256.Sum256(concat)
		d = s[:]
	case sha512.Size384:
		s := sha512.Sum384(concat)
		d = s[:]
	case sha512.Size:
		s := sha512.Sum512(concat)
		d = s[:]
	default:
		return nil, nil, maaerr.New(maaerr.InvalidQuote, "%s: quote PCR digest of unsupported size %d", where, len(info.PCRDigest.Buffer))
	}
	if subtle.ConstantTimeCompare(d, info.PCRDigest.Buffer) != 1 {
		return nil, nil, maaerr.New(maaerr.InvalidQuote, "%s: the reported PCR values do not match the quote's PCR digest", where)
	}

	if len(a.Logs) > maxLogs {
		return nil, nil, maaerr.New(maaerr.InvalidParameter, "%s: %d logs; at most %d are allowed", where, len(a.Logs), maxLogs)
	}
	var logs [][]byte
	for i, l := range a.Logs {
		switch strings.ToUpper(l.Type) {
		case "TCG":
		case "IMA":
			return nil, nil, maaerr.New(maaerr.InvalidOperation, "%s: IMA logs are not supported", where)
		default:
			return nil, nil, maaerr.New(maaerr.InvalidParameter, "%s: log %d has unknown type %q", where, i, l.Type)
		}
		b, err := decodeB64(l.Log)
		if err != nil || len(b) == 0 || len(b) > maxLogBytes {
			return nil, nil, maaerr.New(maaerr.InvalidParameter, "%s: log %d is not base64url of 1 to %d bytes", where, i, maxLogBytes)
		}
		logs = append(logs, b)
	}
	events, err := replayLogs(logs, quoted)
	if err != nil {
		return nil, nil, maaerr.Wrap(err, maaerr.InvalidQuote, "%s: the TCG log does not verify against the quoted PCRs", where)
	}
	if events == nil {
		events = []Event{}
	}
	return quoted, events, nil
}

// matchSelection checks that the reported banks are, in order, the quote's
// PCR selections, and returns the values and their concatenation in the order
// the TPM hashed them (selection order, ascending index).
func matchSelection(sel []tpm2.TPMSPCRSelection, banks []PCRBank) (map[uint16]map[int][]byte, []byte, error) {
	if len(sel) != len(banks) {
		return nil, nil, fmt.Errorf("quote selects %d banks, %d reported", len(sel), len(banks))
	}
	quoted := map[uint16]map[int][]byte{}
	var concat []byte
	for i, s := range sel {
		b := banks[i]
		if uint16(s.Hash) != b.Algorithm {
			return nil, nil, fmt.Errorf("bank %d: quote selects algorithm 0x%04x, 0x%04x reported", i, uint16(s.Hash), b.Algorithm)
		}
		if _, dup := quoted[b.Algorithm]; dup {
			return nil, nil, fmt.Errorf("bank %d: algorithm 0x%04x appears twice", i, b.Algorithm)
		}
		h, ok := cryptoHashOf(b.Algorithm)
		if !ok {
			return nil, nil, fmt.Errorf("bank %d: unsupported algorithm 0x%04x", i, b.Algorithm)
		}
		vals := make(map[int][]byte, len(b.Values))
		for _, v := range b.Values {
			if v.Index < 0 || v.Index > maxPCRIndex {
				return nil, nil, fmt.Errorf("bank %d: PCR index %d out of range", i, v.Index)
			}
			if _, dup := vals[v.Index]; dup {
				return nil, nil, fmt.Errorf("bank %d: PCR %d reported twice", i, v.Index)
			}
			d, err := decodeB64(v.Digest)
			if err != nil || len(d) != h.Size() {
				return nil, nil, fmt.Errorf("bank %d: PCR %d digest is not %d bytes of base64url", i, v.Index, h.Size())
			}
			vals[v.Index] = d
		}
		selected := make([]int, 0, len(b.Values))
		for byteIdx, bits := range s.PCRSelect {
			for bit := 0; bit < 8; bit++ {
				if bits&(1<<bit) != 0 {
					selected = append(selected, byteIdx*8+bit)
				}
			}
		}
		if len(selected) != len(vals) {
			return nil, nil, fmt.Errorf("bank %d: quote selects %d PCRs, %d reported", i, len(selected), len(vals))
		}
		for _, idx := range selected {
			d, ok := vals[idx]
			if !ok {
				return nil, nil, fmt.Errorf("bank %d: PCR %d is quoted but not reported", i, idx)
			}
			concat = append(concat, d...)
		}
		quoted[b.Algorithm] = vals
	}
	return quoted, concat, nil
}

func missingPCRs(quoted map[uint16]map[int][]byte, mask uint32) []int {
	var missing []int
	for i := 0; i < 32; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		found := false
		for _, vals := range quoted {
			if _, ok := vals[i]; ok {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, i)
		}
	}
	return missing
}

var bankNames = map[uint16]string{0x0004: "SHA1", 0x000B: "SHA256", 0x000C: "SHA384", 0x000D: "SHA512"}

func pcrClaims(quoted map[uint16]map[int][]byte) []PCR {
	byIndex := map[int]map[string]string{}
	for alg, vals := range quoted {
		for idx, d := range vals {
			if byIndex[idx] == nil {
				byIndex[idx] = map[string]string{}
			}
			byIndex[idx][bankNames[alg]] = hex.EncodeToString(d)
		}
	}
	out := make([]PCR, 0, len(byIndex))
	for idx, ds := range byIndex {
		out = append(out, PCR{Index: idx, Digests: ds})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

func customClaims(in []CustomClaim, prefix string) (map[string]any, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > maxCustomClaims {
		return nil, maaerr.New(maaerr.InvalidParameter, "%d custom_claims; at most %d are allowed", len(in), maxCustomClaims)
	}
	if prefix == "" {
		prefix = DefaultCustomClaimPrefix
	}
	out := make(map[string]any, len(in))
	for _, c := range in {
		if c.Name == "" || len(c.Name) > maxCustomNameLen || len(c.Value) > maxCustomValueLen {
			return nil, maaerr.New(maaerr.InvalidParameter, "custom claim names must be 1 to %d bytes and values at most %d", maxCustomNameLen, maxCustomValueLen)
		}
		var v any
		switch strings.ToLower(c.ValueType) {
		case "", "string":
			v = c.Value
		case "integer", "int":
			n, err := strconv.ParseInt(c.Value, 10, 64)
			if err != nil {
				return nil, maaerr.New(maaerr.InvalidParameter, "custom claim %q: value %q is not an integer", c.Name, c.Value)
			}
			v = n
		case "boolean", "bool":
			b, err := strconv.ParseBool(c.Value)
			if err != nil {
				return nil, maaerr.New(maaerr.InvalidParameter, "custom claim %q: value %q is not a boolean", c.Name, c.Value)
			}
			v = b
		default:
			return nil, maaerr.New(maaerr.InvalidParameter, "custom claim %q: value_type %q is not String, Integer or Boolean", c.Name, c.ValueType)
		}
		if _, dup := out[prefix+c.Name]; dup {
			return nil, maaerr.New(maaerr.InvalidParameter, "custom claim %q appears twice", c.Name)
		}
		out[prefix+c.Name] = v
	}
	return out, nil
}

func (r *Result) buildClaims() map[string]any {
	c := map[string]any{
		"aikValidated": r.AIKValidated,
		"aikPubHash":   r.AIKPubHash,
		"tpmVersion":   int64(r.TPMVersion),
	}
	for name, v := range map[string]*bool{
		"secureBootEnabled":     r.SecureBootEnabled,
		"bootDebuggingDisabled": r.BootDebuggingDisabled,
		"notSafeMode":           r.NotSafeMode,
		"notWinPE":              r.NotWinPE,
		"iommuEnabled":          r.IOMMUEnabled,
		"vbsEnabled":            r.VBSEnabled,
	} {
		if v != nil {
			c[name] = *v
		}
	}
	c["events"] = mustJSON(map[string]any{"Events": r.Events})
	if r.BootEvents != nil {
		c["bootEvents"] = mustJSON(map[string]any{"Events": r.BootEvents})
	}
	c["pcrs"] = mustJSON(map[string]any{"PCRs": r.PCRs})
	c["x-ms-tpm-request-key"] = mustJSON(r.RequestKey.PolicyObject)
	if len(r.OtherKeys) > 0 {
		objs := make([]map[string]any, len(r.OtherKeys))
		for i, k := range r.OtherKeys {
			objs[i] = k.PolicyObject
		}
		c["x-ms-tpm-other-keys"] = mustJSON(objs)
	}
	return c
}

func mustJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only maps, slices, strings and numbers we built
	}
	return strings.TrimSuffix(buf.String(), "\n")
}
