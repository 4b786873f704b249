package tpm

import "crypto"

// JWS header types of the request.
const (
	TypRequestV1 = "attReq"
	TypRequestV2 = "attReqV2"
)

func samePublicKey(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}
