//go:build simulator

package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/maat-attest/maat/internal/evidence/tpm/tpmclient"
	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/keys"
)

// TestTPMChallengeAcrossKeyRotation: two replicas on one store, one started
// before a signing-key rotation done out of band (as `maat keys rotate`
// does) and one after. Each must open the other's TPM service contexts: the
// TPM service reads its sealing keys through the key manager, not from a
// snapshot taken at start.
func TestTPMChallengeAcrossKeyRotation(t *testing.T) {
	dsn, schema := pgSchema(t)
	cfg1 := replicaConfig(t, dsn, schema)
	r1 := start(t, cfg1)
	base1 := "http://" + r1.app.HTTPAddr()

	pol := `version=1.1;
configurationrules{
	=> issueproperty(type="required_pcr_mask", value=255);
	=> issueproperty(type="require_valid_aik_cert", value=false);
};
authorizationrules{ => permit(); };
issuancerules{ c:[type=="tpmVersion"] => issue(type="tpmVersion", value=c.value); };`
	if got := sendAuth(t, base1, "PUT", "/policies/Tpm?api-version=2022-08-01", []byte(unsignedPolicy(pol)), true); got.status != 200 {
		t.Fatalf("set TPM policy: %d %s %s", got.status, got.code, got.message)
	}

	// Rotate through a separate key manager on the same store.
	ctx := context.Background()
	st, err := OpenStore(ctx, cfg1)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sealer, err := Sealer(cfg1, nil)
	if err != nil {
		t.Fatal(err)
	}
	km := keys.NewManager(st, InstanceID, sealer, time.Now, nil)
	if err := km.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	rotated, err := km.Rotate(ctx, cfg1.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	// r1 sees the rotation within its change poll.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var set jose.JWKSet
		getJSON(t, http.DefaultClient, base1+"/certs", &set)
		if len(set.Keys) == 2 && r1.app.Keys().Current().Active.KID == rotated.KID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica 1 did not pick up the rotation: %v", kids(set))
		}
		time.Sleep(50 * time.Millisecond)
	}
	r2 := start(t, replicaConfig(t, dsn, schema))
	base2 := "http://" + r2.app.HTTPAddr()

	sim, err := simulator.GetWithFixedSeedInsecure(5)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	tp := transport.FromReadWriter(sim)
	aik, aikPub, err := tpmclient.CreateAIK(tp, tpmclient.RSAAIKTemplate())
	if err != nil {
		t.Fatal(err)
	}
	reqKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	in := tpmclient.Input{
		TPM: tp, AIK: aik, AIKPublic: aikPub,
		PCRs: []int{0, 1, 2, 3, 4, 5, 6, 7}, Banks: []tpm2.TPMAlgID{tpm2.TPMAlgSHA256},
		RequestKey: reqKey,
	}
	const path = "/attest/Tpm?api-version=2022-08-01"
	for _, dir := range []struct{ name, challenge, request string }{
		{"challenge from the replica started before the rotation", base1, base2},
		{"challenge from the replica started after the rotation", base2, base1},
	} {
		t.Run(dir.name, func(t *testing.T) {
			req, err := tpmclient.BuildRequest(in, rawExchange(t, dir.challenge+path, tpmclient.InitMessage()))
			if err != nil {
				t.Fatal(err)
			}
			report := rawExchange(t, dir.request+path, req)
			var rm struct {
				Payload struct {
					Report string `json:"report"`
				} `json:"payload"`
			}
			if err := json.Unmarshal(report, &rm); err != nil || rm.Payload.Report == "" {
				t.Fatalf("report message %s: %v", report, err)
			}
			j, err := jose.Parse(rm.Payload.Report)
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Verify(rotated.Cert.PublicKey); err != nil {
				t.Fatalf("report not signed by the rotated key: %v", err)
			}
		})
	}
}
