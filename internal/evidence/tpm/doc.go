// Package tpm verifies TPM 2.0 evidence. It has two parts that share its
// parsers and signature code:
//
//   - Plain verification functions for any protocol that carries a TPM quote
//     (guest.go; Azure guest attestation composes them): ParsePublicArea,
//     VerifyPCRQuote (TPMS_ATTEST quote signed by the AK, PCR selection and
//     digest), ReplayPCRs (TCG event-log replay of the quoted PCRs),
//     VerifyCertifiedKey (a TPM2_Certify'd key with its attributes and
//     PolicyPCR authPolicy), PolicyPCRDigest and DeriveBootState, over the
//     parsers ParseAttest, ParseSignature, ParsePublic and ParseEventLog.
//   - The HTTP-free core of MAA's /attest/Tpm protocol: it decodes the
//     protocol messages (Init, Request v2; messages.go), issues
//     self-contained sealed challenges (context.go), verifies a request (JWS
//     proof of possession, quote signed by the AIK, PCR digest, TCG
//     event-log replay, AIK certificate chain, tpm_certify of other keys;
//     verify.go), derives MAA's TPM claims, and adapts it all to
//     evidence.Verifier and evidence.Challenger (evidence.go).
//
// The client side (attestation keys, quotes, Request messages, simulated
// boot logs) is package tpmclient; this package never imports it.
//
// The HTTP layer decodes {"data": base64url(JSON)}, calls DecodeMessage, then
// either Service.Challenge (for an Init message) or Service.Verify (for a
// Request message), and encodes the answer with the bytes those return or with
// EncodeReport. Parsing (ParseAttest, ParseSignature, ParsePublic, ParseEventLog),
// verification (Service.Verify) and appraisal (the policy engine, elsewhere)
// are separate steps. Encoding decisions are documented in PROTOCOL.md.
//
// Every error returned is a *maaerr.Error (InvalidParameter for malformed
// messages, InvalidQuote for evidence that fails verification,
// InvalidOperation for unsupported protocol variants).
package tpm
