package tpmclient

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/maat-attest/maat/internal/evidence/tpm"
	"github.com/maat-attest/maat/internal/jose"
)

// InitMessage returns the Init message {"payload":{"type":"aikcert"}}.
func InitMessage() []byte { return []byte(`{"payload":{"type":"aikcert"}}`) }

// RSAAIKTemplate is a restricted RSA-2048 signing key (RSASSA, SHA-256), the
// usual attestation identity key.
func RSAAIKTemplate() tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgRSA,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true,
			UserWithAuth: true, Restricted: true, SignEncrypt: true, NoDA: true},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, &tpm2.TPMSRSAParms{
			Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
			Scheme: tpm2.TPMTRSAScheme{Scheme: tpm2.TPMAlgRSASSA,
				Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgRSASSA, &tpm2.TPMSSigSchemeRSASSA{HashAlg: tpm2.TPMAlgSHA256})},
			KeyBits: 2048,
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{Buffer: make([]byte, 256)}),
	}
}

// ECCAIKTemplate is a restricted NIST P-256 signing key (ECDSA, SHA-256).
func ECCAIKTemplate() tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgECC,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true,
			UserWithAuth: true, Restricted: true, SignEncrypt: true, NoDA: true},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
			Scheme: tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgECDSA,
				Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256})},
			CurveID: tpm2.TPMECCNistP256,
			KDF:     tpm2.TPMTKDFScheme{Scheme: tpm2.TPMAlgNull},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
			X: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)}, Y: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)}}),
	}
}

// Input is what a client needs to answer a challenge.
type Input struct {
	TPM transport.TPM
	// AIK is the loaded attestation key (handle, name, auth).
	AIK       tpm2.AuthHandle
	AIKPublic crypto.PublicKey
	AIKCert   []byte   // DER; optional
	Logs      [][]byte // TCG logs in measurement order
	// PCRs to quote; nil means 0-23. Banks nil means SHA-1 and SHA-256.
	PCRs  []int
	Banks []tpm2.TPMAlgID
	// RequestKey signs the request and is bound to the quote (tpm_quote,
	// sha-256).
	RequestKey   *rsa.PrivateKey
	RPID         string
	RPData       []byte
	CustomClaims []tpm.CustomClaim
}

// BuildRequest answers a Challenge message (the JSON inside "data") with a
// Request message ({"payload":{"request": JWS}}): it quotes the PCRs with
// qualifyingData = SHA-256(request_key jwk ‖ 0x00 ‖ challenge), reads the
// quoted PCR values, and signs the v2 request with RequestKey. It returns an
// error when the challenge is malformed or a TPM command fails.
func BuildRequest(in Input, challengeMessage []byte) ([]byte, error) {
	if in.TPM == nil || in.RequestKey == nil || in.AIKPublic == nil {
		return nil, errors.New("tpm: BuildRequest needs TPM, AIK, AIKPublic and RequestKey")
	}
	var ch struct {
		Payload struct {
			Challenge      string `json:"challenge"`
			ServiceContext string `json:"service_context"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(challengeMessage, &ch); err != nil {
		return nil, fmt.Errorf("tpm: challenge message: %w", err)
	}
	challenge, err := decodeB64(ch.Payload.Challenge)
	if err != nil || len(challenge) == 0 || ch.Payload.ServiceContext == "" {
		return nil, errors.New("tpm: challenge message lacks challenge or service_context")
	}
	jwkBytes, _ := json.Marshal(jose.PublicJWK(in.RequestKey.Public()))
	h := sha256.New()
	h.Write(jwkBytes)
	h.Write([]byte{0})
	h.Write(challenge)
	att, err := QuoteAttestation(in.TPM, in.AIK, in.AIKPublic, h.Sum(nil), in.PCRs, in.Banks)
	if err != nil {
		return nil, err
	}
	for _, l := range in.Logs {
		att.Logs = append(att.Logs, tpm.Log{Type: "TCG", Log: base64.RawURLEncoding.EncodeToString(l)})
	}
	if len(in.AIKCert) > 0 {
		att.AIKCert = base64.RawURLEncoding.EncodeToString(in.AIKCert)
	}
	ad := &tpm.AttData{
		RPID:           in.RPID,
		Challenge:      ch.Payload.Challenge,
		TPMAttData:     &tpm.TPMAttData{CurrentAttestation: att},
		RequestKey:     &tpm.KeyObject{JWK: jwkBytes, Info: &tpm.KeyInfo{TPMQuote: &tpm.TPMQuoteBinding{HashAlg: "sha-256"}}},
		CustomClaims:   in.CustomClaims,
		ServiceContext: ch.Payload.ServiceContext,
	}
	if in.RPData != nil {
		ad.RPData = base64.RawURLEncoding.EncodeToString(in.RPData)
	}
	payload, err := json.Marshal(tpm.RequestPayload{AttType: "basic", AttData: ad})
	if err != nil {
		return nil, err
	}
	jws, err := SignRequest(payload, in.RequestKey)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"payload": map[string]string{"request": jws}})
}

// QuoteAttestation quotes pcrs (nil: 0-23) in banks (nil: SHA-1, SHA-256)
// with the AIK over extra and returns the attestation object with the quote,
// signature, aik_pub and the quoted PCR values (no logs). It returns an error
// when a TPM command fails.
func QuoteAttestation(t transport.TPM, aik tpm2.AuthHandle, aikPub crypto.PublicKey, extra []byte, pcrs []int, banks []tpm2.TPMAlgID) (*tpm.Attestation, error) {
	if pcrs == nil {
		for i := 0; i < 24; i++ {
			pcrs = append(pcrs, i)
		}
	}
	if banks == nil {
		banks = []tpm2.TPMAlgID{tpm2.TPMAlgSHA1, tpm2.TPMAlgSHA256}
	}
	bitmap := func(idx []int) []byte {
		b := make([]byte, 3)
		for _, p := range idx {
			if p >= 0 && p < 24 {
				b[p/8] |= 1 << (p % 8)
			}
		}
		return b
	}
	var sel tpm2.TPMLPCRSelection
	for _, alg := range banks {
		sel.PCRSelections = append(sel.PCRSelections, tpm2.TPMSPCRSelection{Hash: alg, PCRSelect: bitmap(pcrs)})
	}
	q, err := tpm2.Quote{
		SignHandle:     aik,
		QualifyingData: tpm2.TPM2BData{Buffer: extra},
		InScheme:       tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
		PCRSelect:      sel,
	}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("tpm: TPM2_Quote: %w", err)
	}
	jwk, _ := json.Marshal(jose.PublicJWK(aikPub))
	att := &tpm.Attestation{
		AIKPub:    jwk,
		Quote:     base64.RawURLEncoding.EncodeToString(q.Quoted.Bytes()),
		Signature: base64.RawURLEncoding.EncodeToString(tpm2.Marshal(q.Signature)),
	}
	// PCR values are read after the quote; a PCR extended in between makes
	// the digest check fail on the service, never a false pass.
	sorted := append([]int(nil), pcrs...)
	for i := 1; i < len(sorted); i++ {
		for j := i; j > 0 && sorted[j] < sorted[j-1]; j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	for _, alg := range banks {
		bank := tpm.PCRBank{Algorithm: uint16(alg)}
		for start := 0; start < len(sorted); start += 8 {
			end := min(start+8, len(sorted))
			r, err := tpm2.PCRRead{PCRSelectionIn: tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{
				{Hash: alg, PCRSelect: bitmap(sorted[start:end])}}}}.Execute(t)
			if err != nil {
				return nil, fmt.Errorf("tpm: TPM2_PCR_Read: %w", err)
			}
			if len(r.PCRValues.Digests) != end-start {
				return nil, fmt.Errorf("tpm: TPM2_PCR_Read returned %d values, want %d", len(r.PCRValues.Digests), end-start)
			}
			for i, d := range r.PCRValues.Digests {
				bank.Values = append(bank.Values, tpm.PCRValue{Index: sorted[start+i], Digest: base64.RawURLEncoding.EncodeToString(d.Buffer)})
			}
		}
		att.PCRs = append(att.PCRs, bank)
	}
	return att, nil
}

// CreateAIK creates an attestation key from tmpl (RSAAIKTemplate or
// ECCAIKTemplate) as a primary key in the owner hierarchy and returns its
// handle (to flush when done) and public key.
func CreateAIK(t transport.TPM, tmpl tpm2.TPMTPublic) (tpm2.AuthHandle, crypto.PublicKey, error) {
	rsp, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tmpl)}.Execute(t)
	if err != nil {
		return tpm2.AuthHandle{}, nil, fmt.Errorf("tpm: creating the attestation key: %w", err)
	}
	area, err := rsp.OutPublic.Contents()
	if err != nil {
		return tpm2.AuthHandle{}, nil, err
	}
	pub, err := tpm2.Pub(*area)
	if err != nil {
		return tpm2.AuthHandle{}, nil, err
	}
	return tpm2.AuthHandle{Handle: rsp.ObjectHandle, Name: rsp.Name, Auth: tpm2.PasswordAuth(nil)}, pub, nil
}

// SignRequest returns the compact JWS (alg PS256, typ attReqV2) of payload
// signed with key, as a client builds a Request message. It fails only when
// signing fails.
func SignRequest(payload []byte, key *rsa.PrivateKey) (string, error) {
	return jose.SignPayload(jose.Header{Alg: jose.AlgPS256, Typ: tpm.TypRequestV2}, payload, key)
}

// decodeB64 decodes base64url with or without padding, and tolerates
// standard base64, as the service does for the fields it sends.
func decodeB64(s string) ([]byte, error) {
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	if b, err := base64.URLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.StdEncoding.DecodeString(s)
}
