// Package tpmclient is the client side of TPM attestation, for the CLI, the
// simulators and tests: it builds exactly what package tpm verifies. For
// MAA's /attest/Tpm it creates attestation keys (RSAAIKTemplate,
// ECCAIKTemplate, CreateAIK), quotes PCRs (QuoteAttestation) and answers a
// challenge with a signed Request message (InitMessage, BuildRequest,
// SignRequest). For simulated machines it builds TCG PC Client event logs
// and extends them into a TPM's PCRs (SyntheticLog, SimulatedBootLog,
// EncodeLog, EncodeUEFIVariable).
//
// It talks to any transport.TPM (a device such as /dev/tpmrm0, or the
// simulator) and does no other I/O. It imports package tpm for the message
// types; package tpm never imports it.
package tpmclient
