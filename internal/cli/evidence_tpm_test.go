//go:build simulator

package cli

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/maat-attest/maat/internal/evidence/tpm"
	"github.com/maat-attest/maat/internal/evidence/tpm/tpmclient"
)

// TestEvidenceInspectTPM builds a real Request message with the TPM
// simulator and inspects it: header, payload and the parsed quote.
func TestEvidenceInspectTPM(t *testing.T) {
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
	svc, err := tpm.New(tpm.Options{ServiceContextKey: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	_, _, challenge, err := svc.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	reqKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	msg, err := tpmclient.BuildRequest(tpmclient.Input{TPM: tp, AIK: aik,
		AIKPublic: aikPub, PCRs: []int{0, 1, 7}, Banks: []tpm2.TPMAlgID{tpm2.TPMAlgSHA256}, RequestKey: reqKey}, challenge)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "request.json")
	os.WriteFile(file, msg, 0o600)
	out, _, err := runCmd(t, NewEvidenceCommand(), "inspect", "--type", "tpm", "--evidence", file)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Header  map[string]any `json:"header"`
		Payload map[string]any `json:"payload"`
		Current struct {
			Quote struct {
				Magic        string `json:"magic"`
				PCRSelection []struct {
					PCRs []int `json:"pcrs"`
				} `json:"pcrSelection"`
			} `json:"quote"`
			SignatureAlg string `json:"signatureAlg"`
		} `json:"current_attestation"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if got.Header["alg"] != "PS256" || got.Payload["att_type"] != "basic" || got.Current.Quote.Magic != "0xff544347" ||
		len(got.Current.Quote.PCRSelection) != 1 || len(got.Current.Quote.PCRSelection[0].PCRs) != 3 || got.Current.SignatureAlg == "" {
		t.Fatalf("inspect output %s", out)
	}
	garbage := filepath.Join(t.TempDir(), "g")
	os.WriteFile(garbage, []byte("not a request"), 0o600)
	if _, _, err := runCmd(t, NewEvidenceCommand(), "inspect", "--type", "tpm", "--evidence", garbage); err == nil {
		t.Fatal("garbage accepted")
	}
}
