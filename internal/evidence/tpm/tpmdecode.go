package tpm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// The hot path's TPM structures (TPMS_ATTEST of a quote or certify,
// TPMT_SIGNATURE of RSASSA, RSAPSS or ECDSA) are decoded by hand: a cursor
// that checks every length against what is left and reports the bytes it
// consumed, so trailing bytes are caught without re-marshalling the result
// through go-tpm's reflection (which cost as much as the decode itself).
// Anything else goes through go-tpm's decoder and the re-marshal check, and
// the fuzz target FuzzFastDecodersMatchGoTPM holds the two paths to the same
// answers.

var errShort = errors.New("truncated")

type cursor struct {
	b   []byte
	off int
	err error
}

func (c *cursor) take(n int) []byte {
	if c.err != nil {
		return nil
	}
	if n < 0 || len(c.b)-c.off < n {
		c.err = fmt.Errorf("%w at byte %d (need %d, have %d)", errShort, c.off, n, len(c.b)-c.off)
		return nil
	}
	s := c.b[c.off : c.off+n]
	c.off += n
	return s
}

func (c *cursor) u8() uint8 {
	if s := c.take(1); s != nil {
		return s[0]
	}
	return 0
}

func (c *cursor) u16() uint16 {
	if s := c.take(2); s != nil {
		return binary.BigEndian.Uint16(s)
	}
	return 0
}

func (c *cursor) u32() uint32 {
	if s := c.take(4); s != nil {
		return binary.BigEndian.Uint32(s)
	}
	return 0
}

func (c *cursor) u64() uint64 {
	if s := c.take(8); s != nil {
		return binary.BigEndian.Uint64(s)
	}
	return 0
}

// sized reads a TPM2B: a UINT16 size and that many bytes, copied (parsers
// copy their input).
func (c *cursor) sized() []byte {
	n := int(c.u16())
	s := c.take(n)
	if s == nil {
		return nil
	}
	return append([]byte{}, s...)
}

// done reports an error unless every byte was consumed.
func (c *cursor) done() error {
	if c.err != nil {
		return c.err
	}
	if c.off != len(c.b) {
		return fmt.Errorf("%d trailing bytes", len(c.b)-c.off)
	}
	return nil
}

// decodeAttest decodes a TPMS_ATTEST of type quote or certify. ok is false
// for the other types, which the caller decodes with go-tpm.
func decodeAttest(data []byte) (a *tpm2.TPMSAttest, ok bool, err error) {
	c := &cursor{b: data}
	magic := tpm2.TPMGenerated(c.u32())
	typ := tpm2.TPMST(c.u16())
	if c.err == nil && typ != tpm2.TPMSTAttestQuote && typ != tpm2.TPMSTAttestCertify {
		return nil, false, nil
	}
	if c.err == nil && magic != tpm2.TPMGeneratedValue {
		return nil, true, fmt.Errorf("magic 0x%08x is not TPM_GENERATED_VALUE", uint32(magic))
	}
	a = &tpm2.TPMSAttest{Magic: magic, Type: typ}
	a.QualifiedSigner.Buffer = c.sized()
	a.ExtraData.Buffer = c.sized()
	a.ClockInfo.Clock = c.u64()
	a.ClockInfo.ResetCount = c.u32()
	a.ClockInfo.RestartCount = c.u32()
	switch safe := c.u8(); {
	case c.err != nil:
	case safe > 1:
		return nil, true, fmt.Errorf("clockInfo.safe is %d, not a TPMI_YES_NO", safe)
	default:
		a.ClockInfo.Safe = safe == 1
	}
	a.FirmwareVersion = c.u64()
	if typ == tpm2.TPMSTAttestQuote {
		var q tpm2.TPMSQuoteInfo
		n := c.u32()
		// Each selection takes at least 3 bytes: bound the count by what is
		// left before allocating.
		if c.err == nil && int64(n)*3 > int64(len(data)-c.off) {
			return nil, true, fmt.Errorf("%d PCR selections cannot fit in %d bytes", n, len(data)-c.off)
		}
		if n > 0 {
			q.PCRSelect.PCRSelections = make([]tpm2.TPMSPCRSelection, 0, n)
		}
		for i := uint32(0); i < n && c.err == nil; i++ {
			h := tpm2.TPMIAlgHash(c.u16())
			m := int(c.u8())
			sel := c.take(m)
			if c.err == nil {
				q.PCRSelect.PCRSelections = append(q.PCRSelect.PCRSelections, tpm2.TPMSPCRSelection{Hash: h, PCRSelect: append([]byte{}, sel...)})
			}
		}
		q.PCRDigest.Buffer = c.sized()
		a.Attested = tpm2.NewTPMUAttest(typ, &q)
	} else {
		var ci tpm2.TPMSCertifyInfo
		ci.Name.Buffer = c.sized()
		ci.QualifiedName.Buffer = c.sized()
		a.Attested = tpm2.NewTPMUAttest(typ, &ci)
	}
	if err := c.done(); err != nil {
		return nil, true, err
	}
	return a, true, nil
}

// decodeSignature decodes a TPMT_SIGNATURE of RSASSA, RSAPSS or ECDSA. ok is
// false for other schemes, which the caller decodes with go-tpm.
func decodeSignature(data []byte) (s *tpm2.TPMTSignature, ok bool, err error) {
	c := &cursor{b: data}
	alg := tpm2.TPMIAlgSigScheme(c.u16())
	if c.err != nil {
		return nil, true, c.err
	}
	var u tpm2.TPMUSignature
	switch alg {
	case tpm2.TPMAlgRSASSA, tpm2.TPMAlgRSAPSS:
		r := &tpm2.TPMSSignatureRSA{Hash: tpm2.TPMIAlgHash(c.u16())}
		r.Sig.Buffer = c.sized()
		u = tpm2.NewTPMUSignature(alg, r)
	case tpm2.TPMAlgECDSA:
		e := &tpm2.TPMSSignatureECC{Hash: tpm2.TPMIAlgHash(c.u16())}
		e.SignatureR.Buffer = c.sized()
		e.SignatureS.Buffer = c.sized()
		u = tpm2.NewTPMUSignature(alg, e)
	default:
		return nil, false, nil
	}
	if err := c.done(); err != nil {
		return nil, true, err
	}
	return &tpm2.TPMTSignature{SigAlg: alg, Signature: u}, true, nil
}
