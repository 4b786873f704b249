package cli

import (
	"crypto"
	"crypto/rsa"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/maat-attest/maat/internal/evidence/azureguest"
	"github.com/maat-attest/maat/internal/evidence/azureguest/guestclient"
	"github.com/maat-attest/maat/internal/simulate"
)

// simulatedHCL is what the TPM simulator holds as an Azure guest: no HCL
// report (Trusted Launch) for "auto" and TrustedLaunch, or for SevSnp and
// Tdx a synthetic HCL report from the development PKI of dataDir whose
// runtime claims name ak as HCLAkPub, with the VCEK chain (SevSnp) or the
// TD quote of its TDREPORT (Tdx) that a real CVM gets from its host.
func simulatedHCL(kind, dataDir string, ak crypto.PublicKey) (report, chainOrQuote []byte, err error) {
	tdxGuest := false
	switch {
	case strings.EqualFold(kind, "auto"), strings.EqualFold(kind, string(azureguest.TrustedLaunch)):
		return nil, nil, nil
	case strings.EqualFold(kind, string(azureguest.SevSnp)):
	case strings.EqualFold(kind, string(azureguest.Tdx)):
		tdxGuest = true
	default:
		return nil, nil, fmt.Errorf("--isolation %q: the simulator is a TrustedLaunch, or a simulated SevSnp or Tdx guest", kind)
	}
	rk, ok := ak.(*rsa.PublicKey)
	if !ok {
		return nil, nil, fmt.Errorf("the simulator's AK is %T, want RSA", ak)
	}
	p, err := simulate.Load(dataDir, time.Now())
	if err != nil {
		return nil, nil, err
	}
	if tdxGuest {
		return p.AzureTDXHCLReport(rk, simulate.DefaultTD())
	}
	return p.AzureHCLReport(rk, simulate.SNPGuest{})
}

// provisionAzureVTPM makes the simulator hold what an Azure VM's vTPM
// holds, where Microsoft's guest-attestation library (and the device path
// of attest azureguest) reads it: the AK, made persistent at 0x81000003
// (the transient handle is flushed), its certificate in NV 0x01C101D0 and,
// for a confidential VM, the HCL report in NV 0x01400001.
func provisionAzureVTPM(tp transport.TPM, ak tpm2.AuthHandle, akCert, hclReport []byte) error {
	owner := tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)}
	_, err := tpm2.EvictControl{Auth: owner, ObjectHandle: &ak, PersistentHandle: tpm2.TPMHandle(guestclient.AzureAKHandle)}.Execute(tp)
	if err != nil {
		return fmt.Errorf("simulator: persisting the AK at 0x%08x: %w", guestclient.AzureAKHandle, err)
	}
	if _, err := (tpm2.FlushContext{FlushHandle: ak.Handle}).Execute(tp); err != nil {
		return fmt.Errorf("simulator: flushing the transient AK: %w", err)
	}
	if err := writeNV(tp, guestclient.AzureAKCertIndex, akCert); err != nil {
		return fmt.Errorf("simulator: the AK certificate in NV 0x%08x: %w", guestclient.AzureAKCertIndex, err)
	}
	if hclReport != nil {
		if err := writeNV(tp, guestclient.AzureHCLNVIndex, hclReport); err != nil {
			return fmt.Errorf("simulator: the HCL report in NV 0x%08x: %w", guestclient.AzureHCLNVIndex, err)
		}
	}
	return nil
}

// writeNV defines an owner-readable, owner-writable NV index of len(data)
// bytes and writes data in chunks the TPM accepts.
func writeNV(tp transport.TPM, index uint32, data []byte) error {
	owner := tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)}
	pub := tpm2.TPMSNVPublic{
		NVIndex: tpm2.TPMHandle(index),
		NameAlg: tpm2.TPMAlgSHA256,
		Attributes: tpm2.TPMANV{
			OwnerWrite: true, OwnerRead: true, AuthRead: true, AuthWrite: true, NoDA: true,
			NT: tpm2.TPMNTOrdinary,
		},
		DataSize: uint16(len(data)),
	}
	if _, err := (tpm2.NVDefineSpace{AuthHandle: owner, PublicInfo: tpm2.New2B(pub)}).Execute(tp); err != nil {
		return err
	}
	rp, err := tpm2.NVReadPublic{NVIndex: tpm2.TPMHandle(index)}.Execute(tp)
	if err != nil {
		return err
	}
	const chunk = 512
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		_, err := tpm2.NVWrite{
			AuthHandle: owner,
			NVIndex:    tpm2.NamedHandle{Handle: tpm2.TPMHandle(index), Name: rp.NVName},
			Data:       tpm2.TPM2BMaxNVBuffer{Buffer: data[off:end]},
			Offset:     uint16(off),
		}.Execute(tp)
		if err != nil {
			return err
		}
	}
	return nil
}
