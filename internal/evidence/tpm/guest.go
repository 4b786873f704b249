package tpm

// Plain TPM verification functions for protocols other than MAA's
// /attest/Tpm messages (Azure guest attestation sends the AK, quote,
// certified EncKey and TCG log as separate binary fields). They share the
// parsers and signature code of the /attest/Tpm verifier and do not change
// it.

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/google/go-eventlog/register"
	"github.com/google/go-tpm/tpm2"

	"github.com/maat-attest/maat/internal/maaerr"
)

// Causes of guest verification failures, wrapped by the *maaerr.Error the
// functions below return so callers and tests can tell them apart.
var (
	ErrQuoteSignature = errors.New("the quote is not signed by the attestation key")
	ErrPCRSelection   = errors.New("the quote's PCR selection is not the PCR set")
	ErrPCRDigest      = errors.New("the PCR values do not match the quote's PCR digest")
	ErrLogReplay      = errors.New("the TCG log does not replay to the quoted PCRs")
	ErrCertify        = errors.New("the EncKey certification does not verify")
	ErrKeyAttributes  = errors.New("the EncKey does not have the required attributes")
	ErrKeyPolicy      = errors.New("the EncKey's authPolicy is not PolicyPCR over the quoted PCRs")
)

// ParsePublicArea parses a TPM2B_PUBLIC (a TPMT_PUBLIC behind its 2-byte
// size) or, when the size prefix does not fit, a bare TPMT_PUBLIC, and
// returns it with its public key. It returns an error for malformed input
// or an unsupported key.
func ParsePublicArea(b []byte) (*tpm2.TPMTPublic, crypto.PublicKey, error) {
	body := b
	if len(b) >= 2 && int(binary.BigEndian.Uint16(b)) == len(b)-2 {
		body = b[2:]
	}
	p, err := ParsePublic(body)
	if err != nil {
		return nil, nil, err
	}
	k, err := tpm2.Pub(*p)
	if err != nil {
		return nil, nil, fmt.Errorf("TPMT_PUBLIC: unsupported key: %w", err)
	}
	return p, k, nil
}

// verifyAKSignature checks sig over msg with the AK. sig is either a raw
// RSA signature (what Azure's clients send: the TPMT_SIGNATURE's signature
// bytes only), verified with the AK's scheme (RSASSA unless it says RSAPSS)
// and SHA-256, or a full TPMT_SIGNATURE.
func verifyAKSignature(ak *tpm2.TPMTPublic, key crypto.PublicKey, msg, sig []byte) error {
	if rk, ok := key.(*rsa.PublicKey); ok && len(sig) == rk.Size() {
		d := sha256.Sum256(msg)
		if akScheme(ak) == tpm2.TPMAlgRSAPSS {
			return rsa.VerifyPSS(rk, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		}
		return rsa.VerifyPKCS1v15(rk, crypto.SHA256, d[:], sig)
	}
	s, err := ParseSignature(sig)
	if err != nil {
		return fmt.Errorf("the signature is neither a raw RSA signature of the AK's size nor a TPMT_SIGNATURE: %w", err)
	}
	_, err = verifyTPMSignature(key, s, msg)
	return err
}

func akScheme(ak *tpm2.TPMTPublic) tpm2.TPMIAlgRSAScheme {
	if ak.Type != tpm2.TPMAlgRSA {
		return tpm2.TPMAlgNull
	}
	d, err := ak.Parameters.RSADetail()
	if err != nil {
		return tpm2.TPMAlgNull
	}
	return d.Scheme.Scheme
}

// GuestQuote is a verified PCR quote.
type GuestQuote struct {
	// ExtraData is the quote's qualifying data.
	ExtraData []byte
	// PCRs maps each quoted PCR to its SHA-256 value (copies).
	PCRs map[int][]byte
	// Set is the quoted PCRs in ascending order.
	Set []int
	// Clock, ResetCount, RestartCount, FirmwareVersion are the quote's
	// clock and firmware fields.
	Clock                    uint64
	ResetCount, RestartCount uint32
	FirmwareVersion          uint64
}

// checkPCRSet validates the claimed PCR set and values and returns the set
// sorted: indices 0–23, no repeats, a 32-byte value for each and no others.
func checkPCRSet(pcrSet []int, pcrs map[int][]byte) ([]int, error) {
	if len(pcrSet) == 0 {
		return nil, maaerr.New(maaerr.InvalidParameter, "PcrSet is empty: name the PCRs the quote covers (e.g. [0,1,2,3,4,5,6,7])")
	}
	set := slices.Clone(pcrSet)
	slices.Sort(set)
	for i, p := range set {
		if p < 0 || p > 23 {
			return nil, maaerr.New(maaerr.InvalidParameter, "PcrSet holds PCR %d; PCR indices are 0 to 23", p)
		}
		if i > 0 && set[i-1] == p {
			return nil, maaerr.New(maaerr.InvalidParameter, "PcrSet names PCR %d twice", p)
		}
		if d, ok := pcrs[p]; !ok {
			return nil, maaerr.New(maaerr.InvalidParameter, "PCRs has no value for PCR %d of PcrSet", p)
		} else if len(d) != sha256.Size {
			return nil, maaerr.New(maaerr.InvalidParameter, "PCRs: PCR %d has a %d-byte digest; want a 32-byte SHA-256 value", p, len(d))
		}
	}
	if len(pcrs) != len(set) {
		return nil, maaerr.New(maaerr.InvalidParameter, "PCRs has %d values for the %d PCRs of PcrSet; send exactly the PcrSet PCRs", len(pcrs), len(set))
	}
	return set, nil
}

// VerifyPCRQuote verifies a TPM2_Quote over the SHA-256 bank: quote is a
// TPMS_ATTEST of type ATTEST_QUOTE signed by the AK (sig raw or
// TPMT_SIGNATURE), whose selection is exactly pcrSet in the SHA-256 bank and
// whose pcrDigest is SHA-256 of pcrs' values in ascending PCR order. The
// qualifying data is returned, not checked. It returns a *maaerr.Error
// (InvalidParameter for malformed input, InvalidQuote wrapping
// ErrQuoteSignature, ErrPCRSelection or ErrPCRDigest otherwise).
func VerifyPCRQuote(ak *tpm2.TPMTPublic, quote, sig []byte, pcrSet []int, pcrs map[int][]byte) (*GuestQuote, error) {
	key, err := tpm2.Pub(*ak)
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "AikPub: unsupported key")
	}
	set, err := checkPCRSet(pcrSet, pcrs)
	if err != nil {
		return nil, err
	}
	att, err := ParseAttest(quote)
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "PcrQuote is not a TPMS_ATTEST: %v", err)
	}
	if att.Magic != tpm2.TPMGeneratedValue || att.Type != tpm2.TPMSTAttestQuote {
		return nil, maaerr.New(maaerr.InvalidQuote, "PcrQuote is not a TPM-generated quote (magic 0x%08x, type 0x%04x; want 0xff544347, 0x8018)", uint32(att.Magic), uint16(att.Type))
	}
	if err := verifyAKSignature(ak, key, quote, sig); err != nil {
		return nil, maaerr.Wrap(errors.Join(ErrQuoteSignature, err), maaerr.InvalidQuote, "PcrSignature does not verify over PcrQuote with AikPub")
	}
	info, err := att.Attested.Quote()
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidQuote, "PcrQuote: malformed quote info")
	}
	sel := info.PCRSelect.PCRSelections
	if len(sel) != 1 || sel[0].Hash != tpm2.TPMAlgSHA256 {
		return nil, maaerr.Wrap(ErrPCRSelection, maaerr.InvalidQuote, "PcrQuote selects %d banks; want the SHA-256 bank only", len(sel))
	}
	var quoted []int
	for byteIdx, bits := range sel[0].PCRSelect {
		for bit := 0; bit < 8; bit++ {
			if bits&(1<<bit) != 0 {
				quoted = append(quoted, byteIdx*8+bit)
			}
		}
	}
	if !slices.Equal(quoted, set) {
		return nil, maaerr.Wrap(ErrPCRSelection, maaerr.InvalidQuote, "PcrQuote covers PCRs %v but PcrSet is %v", quoted, set)
	}
	d := sha256.New()
	for _, p := range set {
		d.Write(pcrs[p])
	}
	if subtle.ConstantTimeCompare(d.Sum(nil), info.PCRDigest.Buffer) != 1 {
		return nil, maaerr.Wrap(ErrPCRDigest, maaerr.InvalidQuote, "the PCRs values do not hash to PcrQuote's pcrDigest %x", info.PCRDigest.Buffer)
	}
	out := &GuestQuote{
		ExtraData:       bytes.Clone(att.ExtraData.Buffer),
		PCRs:            make(map[int][]byte, len(set)),
		Set:             set,
		Clock:           att.ClockInfo.Clock,
		ResetCount:      att.ClockInfo.ResetCount,
		RestartCount:    att.ClockInfo.RestartCount,
		FirmwareVersion: att.FirmwareVersion,
	}
	for _, p := range set {
		out.PCRs[p] = bytes.Clone(pcrs[p])
	}
	return out, nil
}

// ReplayPCRs replays the SHA-256 bank of the TCG log (crypto-agile PC Client
// format) into the PCRs of pcrs and compares each with its quoted value.
// Events for other PCRs are tolerated and not returned. A PCR without events
// replays to its reset value (zero; all-ones for PCRs 17–22; PCR 0 starts
// at the StartupLocality). It returns the events on the quoted PCRs, or an
// InvalidQuote *maaerr.Error wrapping ErrLogReplay that names the first PCR
// that differs with its quoted and replayed values (InvalidParameter for an
// unparsable log).
func ReplayPCRs(log []byte, pcrs map[int][]byte) ([]Event, error) {
	if len(log) == 0 || len(log) > maxLogBytes {
		return nil, maaerr.New(maaerr.InvalidParameter, "TcgLogs must be 1 to %d bytes, got %d", maxLogBytes, len(log))
	}
	el, err := parseLog(log)
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "TcgLogs is not a TCG PC Client event log: %v", err)
	}
	replayed := map[int][]byte{}
	locality := byte(0)
	for _, e := range el.Events(register.HashSHA256) {
		if _, quoted := pcrs[e.Index]; !quoted {
			continue
		}
		if uint32(e.Type) == 0x00000003 { // EV_NO_ACTION is not extended
			if e.Index == 0 && len(e.Data) == 17 && bytes.HasPrefix(e.Data, []byte("StartupLocality")) {
				locality = e.Data[16]
			}
			continue
		}
		if len(e.Digest) != sha256.Size {
			return nil, maaerr.Wrap(ErrLogReplay, maaerr.InvalidQuote, "TcgLogs: an event of type 0x%08x on quoted PCR %d has no SHA-256 digest", uint32(e.Type), e.Index)
		}
		cur, ok := replayed[e.Index]
		if !ok {
			cur = resetValue(e.Index, locality)
			if uint32(e.Type) == 0x80000010 { // EV_EFI_HCRTM_EVENT: an H-CRTM resets PCR 0 to 4
				cur[sha256.Size-1] = 4
			}
		}
		h := sha256.New()
		h.Write(cur)
		h.Write(e.Digest)
		replayed[e.Index] = h.Sum(nil)
	}
	set := make([]int, 0, len(pcrs))
	for p := range pcrs {
		set = append(set, p)
	}
	slices.Sort(set)
	for _, p := range set {
		got, ok := replayed[p]
		if !ok {
			got = resetValue(p, locality)
		}
		if !bytes.Equal(got, pcrs[p]) {
			return nil, maaerr.Wrap(ErrLogReplay, maaerr.InvalidQuote, "TcgLogs does not replay to the quoted PCR %d: quoted %s, replayed %s", p, hex.EncodeToString(pcrs[p]), hex.EncodeToString(got))
		}
	}
	quoted := map[uint16]map[int][]byte{uint16(tpm2.TPMAlgSHA256): pcrs}
	events, err := replayLogs([][]byte{log}, quoted)
	if err != nil {
		return nil, maaerr.Wrap(errors.Join(ErrLogReplay, err), maaerr.InvalidQuote, "TcgLogs: %v", err)
	}
	if events == nil {
		events = []Event{}
	}
	return events, nil
}

func resetValue(pcr int, locality byte) []byte {
	v := make([]byte, sha256.Size)
	switch {
	case pcr >= 17 && pcr <= 22:
		for i := range v {
			v[i] = 0xFF
		}
	case pcr == 0:
		v[sha256.Size-1] = locality
	}
	return v
}

// PolicyPCRDigest returns the policy digest of a trial session that ran
// TPM2_PolicyPCR over the SHA-256 bank PCRs of set (ascending) with the
// given values, in the hash of nameAlg: the authPolicy a key sealed to
// those PCR values carries. It returns an error for an unsupported nameAlg.
func PolicyPCRDigest(nameAlg tpm2.TPMIAlgHash, set []int, pcrs map[int][]byte) ([]byte, error) {
	h, err := signatureHash(nameAlg)
	if err != nil {
		return nil, err
	}
	sorted := slices.Clone(set)
	slices.Sort(sorted)
	var bitmap [3]byte
	pd := h.New()
	for _, p := range sorted {
		if p < 0 || p > 23 {
			return nil, fmt.Errorf("PCR %d out of range", p)
		}
		bitmap[p/8] |= 1 << (p % 8)
		pd.Write(pcrs[p])
	}
	sel := []byte{0, 0, 0, 1, 0x00, 0x0B, 3, bitmap[0], bitmap[1], bitmap[2]} // TPML_PCR_SELECTION, one SHA-256 bank
	d := h.New()
	d.Write(make([]byte, h.Size()))
	d.Write([]byte{0x00, 0x00, 0x01, 0x7F}) // TPM_CC_PolicyPCR
	d.Write(sel)
	d.Write(pd.Sum(nil))
	return d.Sum(nil), nil
}

// Attributes an ephemeral EncKey must have: a non-restricted, non-signing,
// TPM-bound decryption key usable only through its policy (userWithAuth
// clear), so that only this TPM in the quoted PCR state can decrypt what is
// sealed to it.
const (
	attrFixedTPM            = 1 << 1
	attrFixedParent         = 1 << 4
	attrSensitiveDataOrigin = 1 << 5
	attrUserWithAuth        = 1 << 6
	attrNoDA                = 1 << 10
	attrRestricted          = 1 << 16
	attrDecrypt             = 1 << 17
	attrSign                = 1 << 18

	encKeyRequired  = attrFixedTPM | attrFixedParent | attrSensitiveDataOrigin | attrNoDA | attrDecrypt
	encKeyForbidden = attrSign | attrRestricted | attrUserWithAuth
)

// VerifyCertifiedKey verifies the EncKey of Azure guest attestation: encPub
// (TPM2B_PUBLIC) is an RSA key with the attributes decrypt, fixedTPM,
// fixedParent, sensitiveDataOrigin, noDA and none of sign, restricted,
// userWithAuth; its authPolicy is PolicyPCR over the quoted PCRs q; and
// certifyInfo is a TPM2_Certify of it (ATTEST_CERTIFY naming its public
// area) signed by the AK with sig. It returns the key, or a *maaerr.Error
// (InvalidParameter for malformed input, InvalidQuote wrapping ErrCertify,
// ErrKeyAttributes or ErrKeyPolicy).
func VerifyCertifiedKey(ak *tpm2.TPMTPublic, encPub, certifyInfo, sig []byte, q *GuestQuote) (*rsa.PublicKey, error) {
	akKey, err := tpm2.Pub(*ak)
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "AikPub: unsupported key")
	}
	pub, key, err := ParsePublicArea(encPub)
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "EncKeyPub is not a TPM2B_PUBLIC: %v", err)
	}
	rk, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, maaerr.Wrap(ErrKeyAttributes, maaerr.InvalidQuote, "EncKeyPub is not an RSA key")
	}
	att, err := ParseAttest(certifyInfo)
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidParameter, "EncKeyCertifyInfo is not a TPMS_ATTEST: %v", err)
	}
	if att.Magic != tpm2.TPMGeneratedValue || att.Type != tpm2.TPMSTAttestCertify {
		return nil, maaerr.Wrap(ErrCertify, maaerr.InvalidQuote, "EncKeyCertifyInfo is not a TPM-generated certification (magic 0x%08x, type 0x%04x; want 0xff544347, 0x8017)", uint32(att.Magic), uint16(att.Type))
	}
	if err := verifyAKSignature(ak, akKey, certifyInfo, sig); err != nil {
		return nil, maaerr.Wrap(errors.Join(ErrCertify, err), maaerr.InvalidQuote, "EncKeyCertifyInfoSignature does not verify over EncKeyCertifyInfo with AikPub")
	}
	info, err := att.Attested.Certify()
	if err != nil {
		return nil, maaerr.Wrap(err, maaerr.InvalidQuote, "EncKeyCertifyInfo: malformed certify info")
	}
	name, err := tpm2.ObjectName(pub)
	if err != nil || !bytes.Equal(name.Buffer, info.Name.Buffer) {
		return nil, maaerr.Wrap(ErrCertify, maaerr.InvalidQuote, "EncKeyCertifyInfo certifies the object %x, not EncKeyPub (%x)", info.Name.Buffer, nameOf(name))
	}
	attrs := objectAttributes(pub)
	if attrs&encKeyRequired != encKeyRequired || attrs&encKeyForbidden != 0 {
		return nil, maaerr.Wrap(ErrKeyAttributes, maaerr.InvalidQuote, "EncKeyPub has attributes 0x%08x; want decrypt, fixedTPM, fixedParent, sensitiveDataOrigin and noDA (0x%08x) without sign, restricted or userWithAuth (0x%08x)", attrs, encKeyRequired, encKeyForbidden)
	}
	want, err := PolicyPCRDigest(pub.NameAlg, q.Set, q.PCRs)
	if err != nil {
		return nil, maaerr.Wrap(errors.Join(ErrKeyPolicy, err), maaerr.InvalidQuote, "EncKeyPub: nameAlg 0x%04x is not supported", uint16(pub.NameAlg))
	}
	if !bytes.Equal(pub.AuthPolicy.Buffer, want) {
		return nil, maaerr.Wrap(ErrKeyPolicy, maaerr.InvalidQuote, "EncKeyPub's authPolicy is %x; want %x, PolicyPCR over the quoted PCRs %v", pub.AuthPolicy.Buffer, want, q.Set)
	}
	return rk, nil
}

func nameOf(n *tpm2.TPM2BName) []byte {
	if n == nil {
		return nil
	}
	return n.Buffer
}

// BootState is what the verified UEFI and Windows boot events say (each
// field nil when the events it depends on are absent).
type BootState = bootState

// DeriveBootState derives the boot state from verified events (ReplayPCRs'
// result), with the rules of the /attest/Tpm verifier.
func DeriveBootState(events []Event) BootState { return deriveBootState(events) }
