package tpm

import (
	"crypto"
	"crypto/rsa"

	"github.com/maat-attest/maat/internal/jose"
)

// JWS header types of the request.
const (
	TypRequestV1 = "attReq"
	TypRequestV2 = "attReqV2"
)

// SignRequest returns the compact JWS (alg PS256, typ attReqV2) of payload
// signed with key, as a client builds a Request message. It fails only when
// signing fails.
func SignRequest(payload []byte, key *rsa.PrivateKey) (string, error) {
	return jose.SignPayload(jose.Header{Alg: jose.AlgPS256, Typ: TypRequestV2}, payload, key)
}

func samePublicKey(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}
