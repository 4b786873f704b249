// Package azureguest verifies Azure confidential-VM and Trusted Launch
// guest attestation (MAA's POST /attest/AzureGuest): the AttestationInfo
// that Microsoft's guest-attestation clients send, with the vTPM quote, the
// TCG log, an ephemeral EncKey certified by the AK, and for confidential VMs
// the paravisor's HCL runtime claims with an SEV-SNP report or a TD quote.
//
// Verification (reference/maa-cvm-contract.md §5.3) composes the tpm
// package's plain functions (quote over PcrSet with AikPub, TCG-log replay,
// certified EncKey under PolicyPCR), the SevSnpVm or TdxVm verifier over
// the hardware evidence (VMPL 0 for SNP), and the two bindings that make
// the vTPM hardware-rooted: the runtime claims hash into the report data,
// and their HCLAkPub is AikPub. A Trusted Launch guest has no hardware
// evidence and stands on its AK certificate, which must chain to a
// configured Azure vTPM root.
//
// The issued token is sealed to the EncKey (Seal) exactly as the C++, Go
// and Python clients decrypt it; Unseal reverses it with the private key.
//
// The guest side (collecting the evidence on a TPM, unsealing with the
// EncKey in the TPM) is package guestclient; this package never imports it.
package azureguest
