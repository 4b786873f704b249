package app

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
)

// BenchmarkAttestOpenEnclave measures one attestation through the whole HTTP
// handler (decode, verify with warm collateral caches, policy, token) without
// the network, next to the unavoidable crypto (two ECDSA-P256 verifications
// and one RS256 signature) in the same run: the ratio is the overhead.
func BenchmarkAttestOpenEnclave(b *testing.B) {
	t := &testing.T{}
	r := start(t, replayConfig(t, "aad"))
	b.Cleanup(func() { r.cancel() })
	report := readB64(t, sgxvectors.Path("maa", "openenclave_report.b64url"))
	body, _ := json.Marshal(map[string]any{"report": jose.B64.EncodeToString(report)})
	do := func() {
		req := httptest.NewRequest("POST", "/attest/OpenEnclave?api-version=2022-08-01", bytes.NewReader(body))
		w := httptest.NewRecorder()
		r.app.handler.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	do() // warm the caches
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	msg := sha256.Sum256([]byte("x"))
	sig, _ := ecdsa.SignASN1(rand.Reader, ek, msg[:])
	unavoidable := func() {
		ecdsa.VerifyASN1(&ek.PublicKey, msg[:], sig)
		ecdsa.VerifyASN1(&ek.PublicKey, msg[:], sig)
		rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, msg[:])
	}
	b.Run("attest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			do()
		}
	})
	b.Run("crypto-bound", func(b *testing.B) {
		for b.Loop() {
			unavoidable()
		}
	})
}
