//go:build simulator

package tpm_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/maat-attest/maat/internal/evidence/tpm"
	"github.com/maat-attest/maat/internal/evidence/tpm/tpmclient"
)

// Seeds come from the simulator fixture (a real quote, signature, public
// area, certification and event log) plus the edge cases below.

func FuzzParseTPMStructures(f *testing.F) {
	fx := getFixture(f)
	att := fx.quote(f, fx.rsaAIK, []byte("seed"), []int{0, 7})
	q, _ := tpm.DecodeB64(att.Quote)
	s, _ := tpm.DecodeB64(att.Signature)
	ecc := fx.quote(f, fx.eccAIK, []byte("seed"), []int{0})
	es, _ := tpm.DecodeB64(ecc.Signature)
	c := fx.certify(f, fx.rsaAIK, fx.certKey, []byte("seed"))
	cert, _ := tpm.DecodeB64(c.Certification)
	for _, seed := range [][]byte{q, s, es, cert, tpm2.Marshal(fx.rsaAIK.public), tpm2.Marshal(fx.eccAIK.public), {}, {0xff, 0x54, 0x43, 0x47}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		if a, err := tpm.ParseAttest(data); err == nil {
			if !bytes.Equal(tpm2.Marshal(*a), data) {
				t.Fatal("TPMS_ATTEST does not round-trip")
			}
			_, _ = a.Attested.Quote()
			_, _ = a.Attested.Certify()
		}
		if sig, err := tpm.ParseSignature(data); err == nil {
			_, _ = tpm.VerifyTPMSignature(fx.rsaAIK.pub, sig, data)
			_, _ = tpm.VerifyTPMSignature(fx.eccAIK.pub, sig, data)
		}
		if p, err := tpm.ParsePublic(data); err == nil {
			_, _ = tpm2.Pub(*p)
			_, _ = tpm2.ObjectName(p)
			_ = tpm.ObjectAttributes(p)
		}
		if !bytes.Equal(in, data) {
			t.Fatal("parser modified its input")
		}
	})
}

func FuzzEventLog(f *testing.F) {
	// Small seeds: the fuzzer minimizes new inputs byte by byte, and a
	// 100-event log takes longer to minimize than a fuzzing run lasts.
	fx := getFixture(f)
	f.Add(tpmclient.SimulatedBootLog(24).Bytes())
	f.Add(encodeLegacySHA1Log())
	f.Add(fx.log[:200])
	f.Add([]byte{})
	small := tpmclient.SimulatedBootLog(12).Bytes()
	quoted := map[uint16]map[int][]byte{0x000B: {0: make([]byte, 32), 7: make([]byte, 32), 12: make([]byte, 32)}, 0x0004: {0: make([]byte, 20)}}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = tpm.ParseEventLog(data)
		_, _ = tpm.ReplayLogs([][]byte{data}, quoted)
		_, _ = tpm.ReplayLogs([][]byte{small, data}, quoted)
	})
}

func FuzzEventData(f *testing.F) {
	l := tpmclient.SimulatedBootLog(30)
	for _, e := range l.Events {
		f.Add(e.Type, e.Data)
	}
	f.Add(uint32(tpm.EvEventTag), []byte{1, 0, 1, 0x40, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, typ uint32, data []byte) {
		_ = tpm.ProcessEventData(typ, data)
		_, _ = tpm.ParseTaggedEvent(data)
	})
}

func FuzzVerifyRequest(f *testing.F) {
	fx := getFixture(f)
	svc, _ := newTestService(f, fx)
	// A small but complete request (3 PCRs, no log) keeps minimization fast;
	// the log paths have their own target.
	req := fx.build(f, svc, reqOpts{pcrs: []int{0, 7, 12}, mutateAtt: func(a *tpm.Attestation) { a.Logs = nil }})
	f.Add(req.jws)
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJQUzI1NiIsInR5cCI6ImF0dFJlcVYyIn0.e30.")
	f.Fuzz(func(t *testing.T, jws string) {
		s, _ := newTestService(t, fx)
		res, err := s.Verify(context.Background(), jws, tpm.VerifyOptions{})
		if err == nil && res == nil {
			t.Fatal("nil result without error")
		}
	})
}

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{`{"payload":{"type":"aikcert"}}`, `{"payload":{"request":"a.b.c"}}`, `{"request":1}`, `[[[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { _, _ = tpm.DecodeMessage(data) })
}

// encodeLegacySHA1Log is a TCG 1.2-format (SHA-1 only) log seed.
func encodeLegacySHA1Log() []byte {
	var out []byte
	for _, e := range tpmclient.SimulatedBootLog(12).Events {
		d := sha1.Sum(e.Measured)
		out = binary.LittleEndian.AppendUint32(out, uint32(e.PCR))
		out = binary.LittleEndian.AppendUint32(out, e.Type)
		out = append(out, d[:]...)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(e.Data)))
		out = append(out, e.Data...)
	}
	return out
}

// FuzzFastDecodersMatchGoTPM holds the hand-written TPMS_ATTEST and
// TPMT_SIGNATURE decoders to go-tpm's decoder with the re-marshal check they
// replaced: the same inputs are accepted, and what is accepted re-encodes to
// the input exactly.
func FuzzFastDecodersMatchGoTPM(f *testing.F) {
	fx := getFixture(f)
	att := fx.quote(f, fx.rsaAIK, []byte("seed"), []int{0, 7})
	q, _ := tpm.DecodeB64(att.Quote)
	s, _ := tpm.DecodeB64(att.Signature)
	ecc := fx.quote(f, fx.eccAIK, []byte("seed"), []int{0})
	es, _ := tpm.DecodeB64(ecc.Signature)
	c := fx.certify(f, fx.rsaAIK, fx.certKey, []byte("seed"))
	cert, _ := tpm.DecodeB64(c.Certification)
	safe2 := bytes.Clone(q)
	// clockInfo.safe sits after magic, type, two TPM2Bs and clock, resetCount,
	// restartCount.
	off := 6 + 2 + int(binary.BigEndian.Uint16(q[6:]))
	off += 2 + int(binary.BigEndian.Uint16(q[off:])) + 16
	safe2[off] = 2
	badMagic := bytes.Clone(q)
	badMagic[0] = 0
	for _, seed := range [][]byte{q, s, es, cert, safe2, badMagic, append(bytes.Clone(q), 0), q[:len(q)-1], {0x00, 0x14, 0x00, 0x0b, 0x00, 0x00}, {}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > tpm.MaxAttestBytes {
			return
		}
		if a, ok, err := tpm.DecodeAttest(data); ok {
			slow, serr := tpm.UnmarshalAttestSlow(data)
			// One intended difference: go-tpm does not check the magic (its
			// "check" tag is not enforced on decode); the fast decoder does.
			if serr == nil && slow.Magic != tpm2.TPMGeneratedValue {
				if err == nil {
					t.Fatal("TPMS_ATTEST: accepted a wrong magic")
				}
				return
			}
			if (err == nil) != (serr == nil) {
				t.Fatalf("TPMS_ATTEST: fast err %v, go-tpm err %v", err, serr)
			}
			if err == nil && (!bytes.Equal(tpm2.Marshal(*a), data) || !bytes.Equal(tpm2.Marshal(*slow), data)) {
				t.Fatal("TPMS_ATTEST: accepted but does not re-encode to the input")
			}
		}
		if len(data) > tpm.MaxSignatureBytes {
			return
		}
		if s, ok, err := tpm.DecodeSignature(data); ok {
			slow, serr := tpm.UnmarshalSignatureSlow(data)
			if (err == nil) != (serr == nil) {
				t.Fatalf("TPMT_SIGNATURE: fast err %v, go-tpm err %v", err, serr)
			}
			if err == nil && (!bytes.Equal(tpm2.Marshal(*s), data) || !bytes.Equal(tpm2.Marshal(*slow), data)) {
				t.Fatal("TPMT_SIGNATURE: accepted but does not re-encode to the input")
			}
		}
	})
}

func TestParseAttestChecksMagicAndSafe(t *testing.T) {
	fx := getFixture(t)
	q, _ := tpm.DecodeB64(fx.quote(t, fx.rsaAIK, []byte("magic"), []int{0}).Quote)
	if _, err := tpm.ParseAttest(q); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(q)
	bad[3] ^= 1
	if _, err := tpm.ParseAttest(bad); err == nil || !bytes.Contains([]byte(err.Error()), []byte("TPM_GENERATED_VALUE")) {
		t.Fatalf("wrong magic: %v", err)
	}
	if _, err := tpm.ParseAttest(append(bytes.Clone(q), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	if _, err := tpm.ParseAttest(q[:len(q)-1]); err == nil {
		t.Fatal("truncated quote accepted")
	}
}
