package tpm

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/google/go-tpm/tpm2"
)

// Size bounds of the TPM structures we accept. They are generous multiples
// of what a TPM produces (TPM2B buffers are at most 1 KiB or so).
const (
	maxAttestBytes    = 4096
	maxSignatureBytes = 2048
	maxPublicBytes    = 2048
)

// unmarshalExact parses a TPM structure with go-tpm, turning a panic inside
// the reflection-based decoder into an error, and rejects trailing bytes.
func unmarshalExact[T tpm2.Marshallable, P interface {
	*T
	tpm2.Unmarshallable
}](what string, data []byte, max int) (out *T, err error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%s: empty", what)
	}
	if len(data) > max {
		return nil, fmt.Errorf("%s: %d bytes, more than %d", what, len(data), max)
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%s: malformed (%v)", what, r)
		}
	}()
	v, err := tpm2.Unmarshal[T, P](data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if re := tpm2.Marshal(*v); !bytes.Equal(re, data) {
		return nil, fmt.Errorf("%s: %d trailing or non-canonical bytes", what, len(data)-len(re))
	}
	return v, nil
}

// ParseAttest parses a TPMS_ATTEST (structure only, plus the magic
// TPM_GENERATED_VALUE for quotes and certifications, which go-tpm's decoder
// does not check). It returns an error for truncated, oversized,
// trailing or malformed input.
func ParseAttest(data []byte) (*tpm2.TPMSAttest, error) {
	if len(data) > 0 && len(data) <= maxAttestBytes {
		if a, ok, err := decodeAttest(data); ok {
			if err != nil {
				return nil, fmt.Errorf("TPMS_ATTEST: %w", err)
			}
			return a, nil
		}
	}
	return unmarshalExact[tpm2.TPMSAttest]("TPMS_ATTEST", data, maxAttestBytes)
}

// ParseSignature parses a TPMT_SIGNATURE. It returns an error for truncated,
// oversized, trailing or malformed input.
func ParseSignature(data []byte) (*tpm2.TPMTSignature, error) {
	if len(data) > 0 && len(data) <= maxSignatureBytes {
		if s, ok, err := decodeSignature(data); ok {
			if err != nil {
				return nil, fmt.Errorf("TPMT_SIGNATURE: %w", err)
			}
			return s, nil
		}
	}
	return unmarshalExact[tpm2.TPMTSignature]("TPMT_SIGNATURE", data, maxSignatureBytes)
}

// ParsePublic parses a TPMT_PUBLIC. It returns an error for truncated,
// oversized, trailing or malformed input.
func ParsePublic(data []byte) (*tpm2.TPMTPublic, error) {
	return unmarshalExact[tpm2.TPMTPublic]("TPMT_PUBLIC", data, maxPublicBytes)
}

// verifyTPMSignature checks sig over msg with the AIK public key pub. It
// accepts the schemes a TPM attestation key produces: RSASSA-PKCS1-v1_5 and
// RSASSA-PSS with SHA-1/256/384/512 for RSA, ECDSA with SHA-256/384/512 for
// ECC. It returns the hash used.
func verifyTPMSignature(pub crypto.PublicKey, sig *tpm2.TPMTSignature, msg []byte) (crypto.Hash, error) {
	switch sig.SigAlg {
	case tpm2.TPMAlgRSASSA, tpm2.TPMAlgRSAPSS:
		rp, ok := pub.(*rsa.PublicKey)
		if !ok {
			return 0, errors.New("RSA signature but the AIK is not an RSA key")
		}
		var s *tpm2.TPMSSignatureRSA
		var err error
		if sig.SigAlg == tpm2.TPMAlgRSASSA {
			s, err = sig.Signature.RSASSA()
		} else {
			s, err = sig.Signature.RSAPSS()
		}
		if err != nil {
			return 0, err
		}
		h, err := signatureHash(s.Hash)
		if err != nil {
			return 0, err
		}
		d := h.New()
		d.Write(msg)
		if sig.SigAlg == tpm2.TPMAlgRSASSA {
			return h, rsa.VerifyPKCS1v15(rp, h, d.Sum(nil), s.Sig.Buffer)
		}
		return h, rsa.VerifyPSS(rp, h, d.Sum(nil), s.Sig.Buffer, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	case tpm2.TPMAlgECDSA:
		ep, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return 0, errors.New("ECDSA signature but the AIK is not an EC key")
		}
		s, err := sig.Signature.ECDSA()
		if err != nil {
			return 0, err
		}
		h, err := signatureHash(s.Hash)
		if err != nil {
			return 0, err
		}
		d := h.New()
		d.Write(msg)
		r := new(big.Int).SetBytes(s.SignatureR.Buffer)
		ss := new(big.Int).SetBytes(s.SignatureS.Buffer)
		if !ecdsa.Verify(ep, d.Sum(nil), r, ss) {
			return h, errors.New("ECDSA verification failed")
		}
		return h, nil
	}
	return 0, fmt.Errorf("unsupported signature scheme 0x%04x", uint16(sig.SigAlg))
}

func signatureHash(alg tpm2.TPMIAlgHash) (crypto.Hash, error) {
	switch alg {
	case tpm2.TPMAlgSHA1:
		return crypto.SHA1, nil
	case tpm2.TPMAlgSHA256:
		return crypto.SHA256, nil
	case tpm2.TPMAlgSHA384:
		return crypto.SHA384, nil
	case tpm2.TPMAlgSHA512:
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("unsupported hash algorithm 0x%04x", uint16(alg))
}

// objectAttributes returns TPMA_OBJECT as the UINT32 MAA's policy key object
// shows.
func objectAttributes(p *tpm2.TPMTPublic) uint32 {
	return binary.BigEndian.Uint32(tpm2.Marshal(p.ObjectAttributes))
}
