// Package guestclient is the guest side of Azure guest attestation (MAA's
// POST /attest/AzureGuest), for `maat attest azureguest`, its simulator mode
// and tests: Collect reads the PCRs, creates the ephemeral EncKey under
// PolicyPCR of their values, certifies it with the AK, quotes the PCRs and
// assembles the AttestationInfo; SNPIsolation packs an SEV-SNP HCL report
// and its VCEK chain as the isolation evidence; TPMDecrypter unseals the
// answer with the EncKey in the TPM. The handles of Azure's vTPM (AK, AK
// certificate, HCL report) are here too.
//
// It imports package azureguest for the AttestationInfo types; the
// verifier never imports it.
package guestclient
