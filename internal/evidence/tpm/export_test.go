package tpm

import (
	"time"

	"github.com/google/go-tpm/tpm2"
)

// Internals that the external tests (package tpm_test, which build their
// evidence with package tpmclient and so cannot be internal tests) check
// directly. This file is compiled only into the test binary.

var (
	DecodeB64          = decodeB64
	ReplayLogs         = replayLogs
	VerifyTPMSignature = verifyTPMSignature
	VerifyAttestation  = verifyAttestation
	ProcessEventData   = processEventData
	ObjectAttributes   = objectAttributes
	MatchSelection     = matchSelection
	FormatGUID         = formatGUID
	DecodeAttest       = decodeAttest
	DecodeSignature    = decodeSignature
	SamePublicKey      = samePublicKey
)

const (
	MaxAttestBytes    = maxAttestBytes
	MaxSignatureBytes = maxSignatureBytes
	EvEventTag        = evEventTag
)

// SealedContext is the outer JSON of a service_context.
type SealedContext = sealedContext

// OpenContext opens a service_context as Verify does and returns its error.
func (s *Service) OpenContext(encoded string, now time.Time) error {
	_, err := s.openContext(encoded, now)
	return err
}

// UnmarshalAttestSlow parses a TPMS_ATTEST with go-tpm's decoder, the
// reference the fast decoder is fuzzed against.
func UnmarshalAttestSlow(data []byte) (*tpm2.TPMSAttest, error) {
	return unmarshalExact[tpm2.TPMSAttest]("TPMS_ATTEST", data, maxAttestBytes)
}

// UnmarshalSignatureSlow parses a TPMT_SIGNATURE with go-tpm's decoder.
func UnmarshalSignatureSlow(data []byte) (*tpm2.TPMTSignature, error) {
	return unmarshalExact[tpm2.TPMTSignature]("TPMT_SIGNATURE", data, maxSignatureBytes)
}
