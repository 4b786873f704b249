// Command secure-key-release walks through secure key release end to end
// against a local Maat server, with the enclave simulated:
//
//  1. enclave: an ephemeral key pair; SHA-256 of its public key (the JSON
//     runtime data) goes into the report data of a simulated SGX quote;
//  2. enclave → attestation service: quote + runtime data → token carrying
//     the key;
//  3. relying party: validates the token, takes the attested key out of it,
//     checks it against the report data, wraps its secret to it (JWE);
//  4. enclave: unwraps the secret;
//  5. key release endpoint: a key held by Maat under an Azure Key Vault
//     release policy is released to the enclave, wrapped to the same key.
//
// Run a server first:
//
//	maat serve --dev --dev-trust-simulated-evidence --https-addr "" --http-addr 127.0.0.1:8080 \
//	    --data ./maat-data --dev-bearer-token s3cret
//	go run ./examples/secure-key-release --endpoint http://localhost:8080 --data ./maat-data --bearer-token s3cret
//
// Against Azure Attestation only the endpoint and the evidence source change
// (see docs/SECURE-KEY-RELEASE.md).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/maat-attest/maat/internal/keyrelease"
	"github.com/maat-attest/maat/internal/simulate"
	"github.com/maat-attest/maat/sdk/azattest"
)

type walkConfig struct {
	// Endpoint is the attestation service (and key release) URL; it is the
	// issuer of its tokens.
	Endpoint string
	// DataDir is the server's data directory (its development PKI signs
	// the simulated quote).
	DataDir string
	// BearerToken authorizes key management on the server.
	BearerToken string
}

func main() {
	var c walkConfig
	flag.StringVar(&c.Endpoint, "endpoint", "http://localhost:8080", "Maat endpoint (its issuer)")
	flag.StringVar(&c.DataDir, "data", "./maat-data", "the server's data directory (development PKI)")
	flag.StringVar(&c.BearerToken, "bearer-token", os.Getenv("MAAT_BEARER_TOKEN"), "bearer token for key management")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, c, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// The enclave's identity, as its (simulated) report states it and the
// release policy requires it.
var (
	mrSigner = bytes.Repeat([]byte{0x83}, 32)
	svn      = uint16(2)
)

func run(ctx context.Context, c walkConfig, out io.Writer) error {
	client, err := azattest.NewClient(c.Endpoint, nil, nil)
	if err != nil {
		return err
	}

	// 1. Enclave: ephemeral key; the runtime data carries its public key.
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	enclaveKey, err := azattest.NewRuntimeKey(priv, "enclave-key-1")
	if err != nil {
		return err
	}
	runtimeData, err := enclaveKey.RuntimeData()
	if err != nil {
		return err
	}
	// Real SGX: sgx_create_report / oe_get_report with report_data =
	// azattest.ReportData(runtimeData). Here: the development PKI.
	pki, err := simulate.Load(c.DataDir, time.Now())
	if err != nil {
		return err
	}
	enclave := simulate.Enclave{ReportData: simulate.ReportDataFor(runtimeData), SVN: svn, ProductID: 1}
	copy(enclave.MRSigner[:], mrSigner)
	quote, err := pki.SGXQuote(enclave)
	if err != nil {
		return err
	}

	// 2. Enclave → attestation service.
	att, err := client.AttestSGXEnclave(ctx, quote, &azattest.AttestSGXEnclaveOptions{
		RuntimeData: &azattest.AttestationData{Data: runtimeData, DataType: azattest.DataTypeJSON},
	})
	if err != nil {
		return fmt.Errorf("attest: %w", err)
	}
	token := att.Token.String()
	fmt.Fprintf(out, "1-2. enclave attested: token of %s, mrsigner %s, simulated=%v\n", *att.Issuer, *att.SGXMrSigner, att.RawClaims[simulate.ClaimSimulated])

	// 3. Relying party: validate, extract, wrap.
	valid, err := client.ValidateToken(ctx, token, nil)
	if err != nil {
		return fmt.Errorf("relying party: %w", err)
	}
	if !strings.EqualFold(*valid.SGXMrSigner, hex.EncodeToString(mrSigner)) {
		return fmt.Errorf("relying party: unexpected mrsigner %s", *valid.SGXMrSigner)
	}
	attested, err := azattest.ExtractAttestedKey(valid.Token, &azattest.AttestedKeyOptions{RequireReportDataCheck: true})
	if err != nil {
		return fmt.Errorf("relying party: %w", err)
	}
	wrapped, err := attested.WrapSecret([]byte("the relying party's secret"), nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "3.   relying party: key %q from %s, bound to the report data (checked: %v); secret wrapped (%d-byte JWE)\n",
		attested.KeyID, attested.Claim, attested.ReportDataChecked, len(wrapped))

	// 4. Enclave: unwrap.
	secret, err := enclaveKey.UnwrapSecret(wrapped)
	if err != nil {
		return fmt.Errorf("enclave: %w", err)
	}
	fmt.Fprintf(out, "4.   enclave unwrapped: %q\n", secret)

	// 5. Key release endpoint: the operator creates a key under a release
	// policy (Azure Key Vault's format); the enclave asks for it.
	kr := &keyrelease.Client{Endpoint: c.Endpoint, BearerToken: c.BearerToken}
	policy := fmt.Sprintf(`{"version":"1.0.0","anyOf":[{"authority":%q,"allOf":[
		{"claim":"x-ms-sgx-mrsigner","equals":%q},
		{"claim":"x-ms-sgx-is-debuggable","equals":false},
		{"claim":"x-ms-sgx-svn","greaterOrEquals":%d}]}]}`, c.Endpoint, hex.EncodeToString(mrSigner), svn)
	name := fmt.Sprintf("example-%d", time.Now().UnixNano())
	if _, err := kr.Create(ctx, name, keyrelease.CreateRequest{KeyType: keyrelease.KeyTypeOct256, ReleasePolicy: json.RawMessage(policy)}); err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	defer kr.Delete(context.WithoutCancel(ctx), name)
	rel, err := kr.Release(ctx, name, keyrelease.ReleaseRequest{Target: token})
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	jwk, err := enclaveKey.UnwrapSecret(rel.Value)
	if err != nil {
		return fmt.Errorf("enclave: %w", err)
	}
	var k struct{ Kty, Kid, K string }
	if err := json.Unmarshal(jwk, &k); err != nil {
		return err
	}
	fmt.Fprintf(out, "5.   key %q released under the policy of %s and opened by the enclave: kty %s, %d-byte key\n", k.Kid, rel.Authority, k.Kty, len(k.K)*6/8)
	return nil
}
