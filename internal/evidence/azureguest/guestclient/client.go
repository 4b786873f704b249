package guestclient

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/maat-attest/maat/internal/evidence/azureguest"
	"github.com/maat-attest/maat/internal/evidence/tpm"
)

// Handles of Azure's vTPM (contract §5 item 7): the AK, its certificate and
// the HCL report.
const (
	AzureAKHandle     = 0x81000003
	AzureAKCertIndex  = 0x01C101D0
	AzureHCLNVIndex   = 0x01400001
	AzureUserDataNV   = 0x01400002
	protocolVersion20 = "2.0"
)

// LinuxPCRs are the PCRs Azure's Linux clients quote; Windows adds 11–14.
func LinuxPCRs() []int { return []int{0, 1, 2, 3, 4, 5, 6, 7} }

// EncKeyTemplate is the ephemeral EncKey the clients create: an RSA-2048
// decryption key bound to this TPM, usable only through authPolicy (the
// PolicyPCR digest of the quoted PCRs), with the attributes the verifier
// requires.
func EncKeyTemplate(authPolicy []byte) tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgRSA,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true, NoDA: true, Decrypt: true,
		},
		AuthPolicy: tpm2.TPM2BDigest{Buffer: authPolicy},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, &tpm2.TPMSRSAParms{
			Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
			Scheme:    tpm2.TPMTRSAScheme{Scheme: tpm2.TPMAlgNull},
			KeyBits:   2048,
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{Buffer: make([]byte, 256)}),
	}
}

// Input is what a guest collects besides what the TPM gives.
type Input struct {
	// AK is the attestation key (AzureAKHandle on Azure).
	AK tpm2.AuthHandle
	// AKCert is the AK certificate (DER; NV AzureAKCertIndex on Azure).
	AKCert []byte
	// PCRs to quote; nil means LinuxPCRs.
	PCRs []int
	// TCGLog is the firmware event log (securityfs on Linux).
	TCGLog []byte
	// OS facts sent as AttestationInfo members.
	OSType, OSDistro, OSBuild      string
	OSVersionMajor, OSVersionMinor int64
	// ClientPayload is echoed in x-ms-runtime.client-payload (values are
	// sent base64, as Microsoft's clients do).
	ClientPayload map[string]string
	// Isolation is the hardware evidence; Type TrustedLaunch sends none.
	Isolation azureguest.Isolation
	// EncKeyTemplate overrides EncKeyTemplate (tests of the verifier's
	// refusals); nil means EncKeyTemplate(PolicyPCR of the quoted PCRs).
	EncKeyTemplate func(authPolicy []byte) tpm2.TPMTPublic
}

// Evidence is a collected AzureGuest request and the TPM key that can
// unseal its answer.
type Evidence struct {
	// AttestationInfo is the JSON a client sends (base64url in the body).
	AttestationInfo []byte
	// EncKey is the transient EncKey; flush it when done.
	EncKey tpm2.NamedHandle
	// EncKeyPublic is its public key.
	EncKeyPublic *rsa.PublicKey
	PCRs         []int
}

// Body returns the request body {"AttestationInfo": base64url}.
func (e *Evidence) Body() []byte {
	b, _ := json.Marshal(map[string]string{"AttestationInfo": base64.RawURLEncoding.EncodeToString(e.AttestationInfo)})
	return b
}

func pcrSelection(set []int) tpm2.TPMLPCRSelection {
	bitmap := make([]byte, 3)
	for _, p := range set {
		bitmap[p/8] |= 1 << (p % 8)
	}
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{Hash: tpm2.TPMAlgSHA256, PCRSelect: bitmap}}}
}

// readPCRs reads the SHA-256 values of set (at most 8 per command).
func readPCRs(t transport.TPM, set []int) (map[int][]byte, error) {
	out := map[int][]byte{}
	for start := 0; start < len(set); start += 8 {
		part := set[start:min(start+8, len(set))]
		r, err := tpm2.PCRRead{PCRSelectionIn: pcrSelection(part)}.Execute(t)
		if err != nil {
			return nil, fmt.Errorf("azureguest: TPM2_PCR_Read: %w", err)
		}
		if len(r.PCRValues.Digests) != len(part) {
			return nil, fmt.Errorf("azureguest: TPM2_PCR_Read returned %d values for %d PCRs", len(r.PCRValues.Digests), len(part))
		}
		for i, d := range r.PCRValues.Digests {
			out[part[i]] = d.Buffer
		}
	}
	return out, nil
}

// Collect runs the guest side of AzureGuest attestation on t: reads the
// PCRs, creates the EncKey under PolicyPCR of their values, certifies it
// with the AK, quotes the PCRs, and assembles the AttestationInfo. It
// returns an error naming the TPM command that failed.
func Collect(t transport.TPM, in Input) (*Evidence, error) {
	set := slices.Clone(in.PCRs)
	if set == nil {
		set = LinuxPCRs()
	}
	slices.Sort(set)
	if len(set) == 0 || set[0] < 0 || set[len(set)-1] > 23 {
		return nil, errors.New("azureguest: PCRs must be indices 0 to 23")
	}
	akPub, err := tpm2.ReadPublic{ObjectHandle: in.AK.Handle}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("azureguest: reading the AK: %w", err)
	}
	values, err := readPCRs(t, set)
	if err != nil {
		return nil, err
	}
	policy, err := tpm.PolicyPCRDigest(tpm2.TPMAlgSHA256, set, values)
	if err != nil {
		return nil, err
	}
	tmpl := EncKeyTemplate
	if in.EncKeyTemplate != nil {
		tmpl = in.EncKeyTemplate
	}
	enc, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tmpl(policy))}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("azureguest: creating the EncKey: %w", err)
	}
	encHandle := tpm2.NamedHandle{Handle: enc.ObjectHandle, Name: enc.Name}
	fail := func(err error) (*Evidence, error) {
		_, _ = tpm2.FlushContext{FlushHandle: enc.ObjectHandle}.Execute(t)
		return nil, err
	}
	encArea, err := enc.OutPublic.Contents()
	if err != nil {
		return fail(err)
	}
	encKey, err := tpm2.Pub(*encArea)
	if err != nil {
		return fail(err)
	}
	rk, ok := encKey.(*rsa.PublicKey)
	if !ok {
		return fail(errors.New("azureguest: the EncKey is not RSA"))
	}
	cert, err := tpm2.Certify{
		ObjectHandle: tpm2.AuthHandle{Handle: enc.ObjectHandle, Name: enc.Name, Auth: tpm2.PasswordAuth(nil)},
		SignHandle:   in.AK,
		InScheme:     tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
	}.Execute(t)
	if err != nil {
		return fail(fmt.Errorf("azureguest: TPM2_Certify of the EncKey: %w", err))
	}
	q, err := tpm2.Quote{SignHandle: in.AK, InScheme: tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull}, PCRSelect: pcrSelection(set)}.Execute(t)
	if err != nil {
		return fail(fmt.Errorf("azureguest: TPM2_Quote: %w", err))
	}
	rawSig := func(s tpm2.TPMTSignature) ([]byte, error) {
		r, err := s.Signature.RSASSA()
		if err != nil {
			return nil, fmt.Errorf("azureguest: the AK does not sign RSASSA: %w", err)
		}
		return r.Sig.Buffer, nil
	}
	qsig, err := rawSig(q.Signature)
	if err != nil {
		return fail(err)
	}
	csig, err := rawSig(cert.Signature)
	if err != nil {
		return fail(err)
	}
	std := base64.StdEncoding.EncodeToString
	pcrs := make([]map[string]any, 0, len(set))
	for _, p := range set {
		pcrs = append(pcrs, map[string]any{"Index": p, "Digest": std(values[p])})
	}
	tpmInfo := map[string]any{
		"AikPub":                     std(tpm2.Marshal(akPub.OutPublic)),
		"PcrQuote":                   std(q.Quoted.Bytes()),
		"PcrSignature":               std(qsig),
		"PcrSet":                     set,
		"PCRs":                       pcrs,
		"EncKeyPub":                  std(tpm2.Marshal(enc.OutPublic)),
		"EncKeyCertifyInfo":          std(cert.CertifyInfo.Bytes()),
		"EncKeyCertifyInfoSignature": std(csig),
	}
	if len(in.AKCert) > 0 {
		tpmInfo["AikCert"] = std(in.AKCert)
	}
	iso := map[string]any{"Type": string(in.Isolation.Type)}
	if in.Isolation.Type != azureguest.TrustedLaunch {
		iso["Evidence"] = map[string]any{"Proof": std(in.Isolation.Proof), "RunTimeData": std(in.Isolation.RunTimeData)}
	}
	payload := map[string]string{}
	for k, v := range in.ClientPayload {
		payload[k] = std([]byte(v))
	}
	doc := map[string]any{
		"AttestationProtocolVersion": protocolVersion20,
		"OSType":                     std([]byte(in.OSType)),
		"OSDistro":                   std([]byte(in.OSDistro)),
		"OSBuild":                    std([]byte(in.OSBuild)),
		"OSVersionMajor":             in.OSVersionMajor,
		"OSVersionMinor":             in.OSVersionMinor,
		"TcgLogs":                    std(in.TCGLog),
		"ClientPayload":              payload,
		"TpmInfo":                    tpmInfo,
		"IsolationInfo":              iso,
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return fail(err)
	}
	return &Evidence{AttestationInfo: body, EncKey: encHandle, EncKeyPublic: rk, PCRs: set}, nil
}

// TPMDecrypter is a crypto.Decrypter over the EncKey: RSAES-PKCS1-v1_5
// decryption in the TPM, authorized by a PolicyPCR session, so it works only
// while the PCRs still hold the quoted values.
type TPMDecrypter struct {
	TPM  transport.TPM
	Key  tpm2.NamedHandle
	Pub  *rsa.PublicKey
	PCRs []int
}

// Public returns the EncKey's public key.
func (d TPMDecrypter) Public() crypto.PublicKey { return d.Pub }

// Decrypt decrypts msg with the EncKey (opts and rand are ignored: the
// scheme is RSAES). It returns the TPM's error, e.g. a policy failure when
// the PCRs changed since the quote.
func (d TPMDecrypter) Decrypt(_ io.Reader, msg []byte, _ crypto.DecrypterOpts) ([]byte, error) {
	sess, closeSess, err := tpm2.PolicySession(d.TPM, tpm2.TPMAlgSHA256, 16)
	if err != nil {
		return nil, fmt.Errorf("azureguest: policy session: %w", err)
	}
	defer func() { _ = closeSess() }()
	if _, err := (tpm2.PolicyPCR{PolicySession: sess.Handle(), Pcrs: pcrSelection(d.PCRs)}).Execute(d.TPM); err != nil {
		return nil, fmt.Errorf("azureguest: TPM2_PolicyPCR: %w", err)
	}
	r, err := tpm2.RSADecrypt{
		KeyHandle:  tpm2.AuthHandle{Handle: d.Key.Handle, Name: d.Key.Name, Auth: sess},
		CipherText: tpm2.TPM2BPublicKeyRSA{Buffer: msg},
		InScheme:   tpm2.TPMTRSADecrypt{Scheme: tpm2.TPMAlgRSAES},
	}.Execute(d.TPM)
	if err != nil {
		return nil, fmt.Errorf("azureguest: TPM2_RSA_Decrypt with the EncKey: %w", err)
	}
	return r.Message.Buffer, nil
}
