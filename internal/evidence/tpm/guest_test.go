package tpm

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/maat-attest/maat/internal/maaerr"
)

// ag25 is the TpmInfo and TcgLogs of MAA's 2025-06-01 AzureGuest example
// (testdata/azure/README.md).
type ag25 struct {
	ak                             *tpm2.TPMTPublic
	quote, sig, encPub, cert, csig []byte
	set                            []int
	pcrs                           map[int][]byte
	log                            []byte
}

func loadAG25(t testing.TB) *ag25 {
	t.Helper()
	raw, err := os.ReadFile("testdata/azure/2025-06-01_AttestAzureGuestVm.attestation_info.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TcgLogs string
		TpmInfo struct {
			AikPub, PcrQuote, PcrSignature, EncKeyPub, EncKeyCertifyInfo, EncKeyCertifyInfoSignature string
			PcrSet                                                                                   []int
			PCRs                                                                                     []struct {
				Index  int
				Digest string
			}
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	b := func(s string) []byte {
		v, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ti := doc.TpmInfo
	ak, _, err := ParsePublicArea(b(ti.AikPub))
	if err != nil {
		t.Fatal(err)
	}
	a := &ag25{ak: ak, quote: b(ti.PcrQuote), sig: b(ti.PcrSignature), encPub: b(ti.EncKeyPub), cert: b(ti.EncKeyCertifyInfo), csig: b(ti.EncKeyCertifyInfoSignature), set: ti.PcrSet, pcrs: map[int][]byte{}, log: b(doc.TcgLogs)}
	for _, p := range ti.PCRs {
		a.pcrs[p.Index] = b(p.Digest)
	}
	return a
}

func clonePCRs(m map[int][]byte) map[int][]byte {
	out := map[int][]byte{}
	for k, v := range m {
		out[k] = bytes.Clone(v)
	}
	return out
}

func TestGuestAG25(t *testing.T) {
	a := loadAG25(t)
	q, err := VerifyPCRQuote(a.ak, a.quote, a.sig, a.set, a.pcrs)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.ExtraData) != 0 || len(q.Set) != 12 || q.Set[8] != 11 {
		t.Fatalf("extra %x set %v", q.ExtraData, q.Set)
	}
	k, err := VerifyCertifiedKey(a.ak, a.encPub, a.cert, a.csig, q)
	if err != nil {
		t.Fatal(err)
	}
	if k.N.BitLen() != 2048 {
		t.Fatalf("EncKey of %d bits", k.N.BitLen())
	}
	events, err := ReplayPCRs(a.log, q.PCRs)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 {
		t.Fatal("no events")
	}
	st := DeriveBootState(events)
	if st.SecureBootEnabled == nil || !*st.SecureBootEnabled {
		t.Fatal("secure boot not derived as enabled")
	}
	// Replaying only a subset of the quoted PCRs tolerates the other events.
	sub := map[int][]byte{0: q.PCRs[0], 7: q.PCRs[7]}
	if _, err := ReplayPCRs(a.log, sub); err != nil {
		t.Fatalf("subset: %v", err)
	}
}

func wantCause(t *testing.T, err error, cause error, code maaerr.Code, text string) {
	t.Helper()
	e := maaerr.As(err)
	if e == nil || e.Code != code || (cause != nil && !errors.Is(err, cause)) || !strings.Contains(e.Message, text) {
		t.Fatalf("got %v; want %s wrapping %v mentioning %q", err, code, cause, text)
	}
}

func TestGuestQuoteNegative(t *testing.T) {
	a := loadAG25(t)
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }

	_, err := VerifyPCRQuote(a.ak, a.quote, flip(a.sig, 0), a.set, a.pcrs)
	wantCause(t, err, ErrQuoteSignature, maaerr.InvalidQuote, "PcrSignature")
	_, err = VerifyPCRQuote(a.ak, flip(a.quote, len(a.quote)-1), a.sig, a.set, a.pcrs)
	wantCause(t, err, ErrQuoteSignature, maaerr.InvalidQuote, "PcrSignature")

	// Another AK.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	ak2 := *a.ak
	ak2.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{Buffer: other.N.Bytes()})
	_, err = VerifyPCRQuote(&ak2, a.quote, a.sig, a.set, a.pcrs)
	wantCause(t, err, ErrQuoteSignature, maaerr.InvalidQuote, "AikPub")

	// Wrong PcrSet (PCR 14 dropped, values dropped with it).
	p2 := clonePCRs(a.pcrs)
	delete(p2, 14)
	_, err = VerifyPCRQuote(a.ak, a.quote, a.sig, []int{0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13}, p2)
	wantCause(t, err, ErrPCRSelection, maaerr.InvalidQuote, "PcrSet is [0 1 2 3 4 5 6 7 11 12 13]")

	// A PCR value changed.
	p3 := clonePCRs(a.pcrs)
	p3[4][0] ^= 1
	_, err = VerifyPCRQuote(a.ak, a.quote, a.sig, a.set, p3)
	wantCause(t, err, ErrPCRDigest, maaerr.InvalidQuote, "pcrDigest")

	// Malformed inputs.
	_, err = VerifyPCRQuote(a.ak, a.quote[:20], a.sig, a.set, a.pcrs)
	wantCause(t, err, nil, maaerr.InvalidParameter, "PcrQuote")
	_, err = VerifyPCRQuote(a.ak, a.quote, a.sig, nil, a.pcrs)
	wantCause(t, err, nil, maaerr.InvalidParameter, "PcrSet is empty")
	_, err = VerifyPCRQuote(a.ak, a.quote, a.sig, append(slicesClone(a.set), 0), a.pcrs)
	wantCause(t, err, nil, maaerr.InvalidParameter, "twice")
	_, err = VerifyPCRQuote(a.ak, a.quote, a.sig, append(slicesClone(a.set), 30), a.pcrs)
	wantCause(t, err, nil, maaerr.InvalidParameter, "0 to 23")
	p4 := clonePCRs(a.pcrs)
	p4[5] = p4[5][:20]
	_, err = VerifyPCRQuote(a.ak, a.quote, a.sig, a.set, p4)
	wantCause(t, err, nil, maaerr.InvalidParameter, "PCR 5 has a 20-byte digest")
	p5 := clonePCRs(a.pcrs)
	p5[9] = make([]byte, 32)
	_, err = VerifyPCRQuote(a.ak, a.quote, a.sig, a.set, p5)
	wantCause(t, err, nil, maaerr.InvalidParameter, "exactly the PcrSet")
	// A certification is not a quote.
	_, err = VerifyPCRQuote(a.ak, a.cert, a.csig, a.set, a.pcrs)
	wantCause(t, err, nil, maaerr.InvalidQuote, "type 0x8017")
}

func slicesClone(s []int) []int { return append([]int(nil), s...) }

func TestGuestReplayNegative(t *testing.T) {
	a := loadAG25(t)
	p := clonePCRs(a.pcrs)
	p[7][31] ^= 1
	_, err := ReplayPCRs(a.log, p)
	wantCause(t, err, ErrLogReplay, maaerr.InvalidQuote, "quoted PCR 7: quoted ")
	if e := maaerr.As(err); !strings.Contains(e.Message, "replayed ") {
		t.Fatal(e.Message)
	}
	// A PCR with no events must be at its reset value.
	p2 := map[int][]byte{9: bytes.Repeat([]byte{1}, 32)}
	_, err = ReplayPCRs(a.log, p2)
	wantCause(t, err, ErrLogReplay, maaerr.InvalidQuote, "replayed 0000")
	_, err = ReplayPCRs([]byte("garbage"), a.pcrs)
	wantCause(t, err, nil, maaerr.InvalidParameter, "TcgLogs")
	_, err = ReplayPCRs(nil, a.pcrs)
	wantCause(t, err, nil, maaerr.InvalidParameter, "TcgLogs")
}

// reencode replaces EncKeyPub's TPMT_PUBLIC with pub, as TPM2B_PUBLIC.
func reencode(pub tpm2.TPMTPublic) []byte {
	body := tpm2.Marshal(pub)
	out := binary.BigEndian.AppendUint16(nil, uint16(len(body)))
	return append(out, body...)
}

func TestGuestCertifyNegative(t *testing.T) {
	a := loadAG25(t)
	q, err := VerifyPCRQuote(a.ak, a.quote, a.sig, a.set, a.pcrs)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	_, err = VerifyCertifiedKey(a.ak, a.encPub, a.cert, flip(a.csig, 7), q)
	wantCause(t, err, ErrCertify, maaerr.InvalidQuote, "EncKeyCertifyInfoSignature")

	enc, _, err := ParsePublicArea(a.encPub)
	if err != nil {
		t.Fatal(err)
	}
	// Changing the key (attributes, policy) changes its name: the real
	// certification no longer names it. That is the first line of defence.
	withSign := *enc
	withSign.ObjectAttributes.SignEncrypt = true
	_, err = VerifyCertifiedKey(a.ak, reencode(withSign), a.cert, a.csig, q)
	wantCause(t, err, ErrCertify, maaerr.InvalidQuote, "not EncKeyPub")

	// The attribute and policy checks themselves, on a key the AK did certify
	// but in another PCR state (policy) — and a synthetic AK that certifies
	// keys with the sign attribute or without a policy.
	q2 := *q
	q2.PCRs = clonePCRs(q.PCRs)
	q2.PCRs[0][0] ^= 1
	_, err = VerifyCertifiedKey(a.ak, a.encPub, a.cert, a.csig, &q2)
	wantCause(t, err, ErrKeyPolicy, maaerr.InvalidQuote, "authPolicy")

	_, err = VerifyCertifiedKey(a.ak, a.encPub[:30], a.cert, a.csig, q)
	wantCause(t, err, nil, maaerr.InvalidParameter, "EncKeyPub")
	_, err = VerifyCertifiedKey(a.ak, a.encPub, a.quote, a.sig, q)
	wantCause(t, err, ErrCertify, maaerr.InvalidQuote, "type 0x8018")
}

func TestPolicyPCRDigestAG25(t *testing.T) {
	a := loadAG25(t)
	enc, _, err := ParsePublicArea(a.encPub)
	if err != nil {
		t.Fatal(err)
	}
	d, err := PolicyPCRDigest(enc.NameAlg, a.set, a.pcrs)
	if err != nil {
		t.Fatal(err)
	}
	// The value the vector README records for this key.
	if got := base64.StdEncoding.EncodeToString(d); !bytes.Equal(d, enc.AuthPolicy.Buffer) || !strings.HasPrefix(hexs(d), "ace57a6d") {
		t.Fatalf("PolicyPCR %s", got)
	}
	if objectAttributes(enc) != 0x20432 {
		t.Fatalf("attributes 0x%x", objectAttributes(enc))
	}
}

func hexs(b []byte) string {
	const h = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, h[c>>4], h[c&15])
	}
	return string(out)
}
