// Package tpm is the HTTP-free core of MAA's /attest/Tpm protocol: it decodes
// the protocol messages (Init, Request v2), issues self-contained sealed
// challenges, verifies TPM 2.0 evidence (JWS proof of possession, TPMS_ATTEST
// quote signed by the AIK, PCR digest, TCG event-log replay, AIK certificate
// chain, tpm_certify of other keys) and derives MAA's TPM claims.
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
