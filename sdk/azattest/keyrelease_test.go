package azattest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/maat-attest/maat/sdk/azattest"
	"github.com/maat-attest/maat/sdk/azattest/fake"
)

func newRPIssuer(t *testing.T) *fake.TokenIssuer {
	t.Helper()
	i, err := fake.NewTokenIssuer("https://rp.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func tokenWith(t *testing.T, iss *fake.TokenIssuer, claims map[string]any) *azattest.Token {
	t.Helper()
	tok, err := iss.Issue(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func jsonClaims(t *testing.T, runtimeData []byte) map[string]any {
	t.Helper()
	var v any
	if err := json.Unmarshal(runtimeData, &v); err != nil {
		t.Fatal(err)
	}
	rd := azattest.ReportData(runtimeData)
	return map[string]any{"x-ms-runtime": v, "x-ms-sgx-report-data": hex.EncodeToString(rd[:])}
}

func binaryClaims(runtimeData []byte) map[string]any {
	rd := azattest.ReportData(runtimeData)
	e := base64.RawURLEncoding.EncodeToString(runtimeData)
	return map[string]any{"x-ms-sgx-ehd": e, "maa-ehd": e, "x-ms-sgx-report-data": hex.EncodeToString(rd[:])}
}

func roundTrip(t *testing.T, k *azattest.AttestedKey, rk *azattest.RuntimeKey) {
	t.Helper()
	jwe, err := k.WrapSecret([]byte("s3cret"), &azattest.WrapSecretOptions{ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := rk.UnwrapSecret(jwe)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "s3cret" {
		t.Fatalf("unwrapped %q", got)
	}
}

func TestAttestedKeyJSONRuntimeData(t *testing.T) {
	iss := newRPIssuer(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, priv := range map[string]any{"rsa": rsaKey, "ec": ecKey} {
		t.Run(name, func(t *testing.T) {
			var rk *azattest.RuntimeKey
			var err error
			switch p := priv.(type) {
			case *rsa.PrivateKey:
				rk, err = azattest.NewRuntimeKey(p, "k1")
			case *ecdsa.PrivateKey:
				rk, err = azattest.NewRuntimeKey(p, "k1")
			}
			if err != nil {
				t.Fatal(err)
			}
			rt, _ := rk.RuntimeData()
			tok := tokenWith(t, iss, jsonClaims(t, rt))
			// Without the bytes: canonical JSON re-hashes to the report data.
			k, err := azattest.ExtractAttestedKey(tok, &azattest.AttestedKeyOptions{RequireReportDataCheck: true})
			if err != nil {
				t.Fatal(err)
			}
			if k.Claim != "x-ms-runtime" || k.KeyID != "k1" || !k.ReportDataChecked {
				t.Fatalf("got %+v", k)
			}
			roundTrip(t, k, rk)
			// With the bytes: checked here too.
			k, err = azattest.ExtractAttestedKey(tok, &azattest.AttestedKeyOptions{RuntimeData: rt})
			if err != nil || !k.ReportDataChecked {
				t.Fatalf("checked: %+v, %v", k, err)
			}
			roundTrip(t, k, rk)
			// Bytes that are not what the token proves.
			other := append([]byte(nil), rt...)
			other = append(other, ' ')
			if _, err := azattest.ExtractAttestedKey(tok, &azattest.AttestedKeyOptions{RuntimeData: other}); !errors.Is(err, azattest.ErrAttestedKeyUnbound) {
				t.Fatalf("other bytes: %v", err)
			}
		})
	}
}

func TestAttestedKeyJSONBinding(t *testing.T) {
	iss := newRPIssuer(t)
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	rk, _ := azattest.NewRuntimeKey(priv, "a")
	rt, _ := rk.RuntimeData()
	spaced := []byte(strings.ReplaceAll(string(rt), ",", ", "))
	// Not canonical: only the issuer checked the binding.
	tok := tokenWith(t, iss, jsonClaims(t, spaced))
	k, err := azattest.ExtractAttestedKey(tok, nil)
	if err != nil || k.ReportDataChecked {
		t.Fatalf("non-canonical: %+v %v", k, err)
	}
	if _, err := azattest.ExtractAttestedKey(tok, &azattest.AttestedKeyOptions{RequireReportDataCheck: true}); !errors.Is(err, azattest.ErrAttestedKeyUnbound) {
		t.Fatalf("non-canonical, required: %v", err)
	}
	if k, err := azattest.ExtractAttestedKey(tok, &azattest.AttestedKeyOptions{RequireReportDataCheck: true, RuntimeData: spaced}); err != nil || !k.ReportDataChecked {
		t.Fatalf("non-canonical with bytes: %+v %v", k, err)
	}
	// Another key than the report data binds.
	priv2, _ := rsa.GenerateKey(rand.Reader, 2048)
	rk2, _ := azattest.NewRuntimeKey(priv2, "b")
	rt2, _ := rk2.RuntimeData()
	c := jsonClaims(t, rt)
	c["x-ms-runtime"] = jsonClaims(t, rt2)["x-ms-runtime"]
	_, err = azattest.ExtractAttestedKey(tokenWith(t, iss, c), &azattest.AttestedKeyOptions{RequireReportDataCheck: true})
	if !errors.Is(err, azattest.ErrAttestedKeyUnbound) || !strings.Contains(err.Error(), "x-ms-sgx-report-data[0:32]") {
		t.Fatalf("swapped key: %v", err)
	}
	if c, err := azattest.CanonicalJSON([]byte(` {"b":1, "a":"<x>"}`)); err != nil || string(c) != `{"a":"<x>","b":1}` {
		t.Fatalf("CanonicalJSON = %s, %v", c, err)
	}
}

func TestAttestedKeyJSONShapes(t *testing.T) {
	iss := newRPIssuer(t)
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	rk, _ := azattest.NewRuntimeKey(priv, "a")
	jwk, _ := rk.PublicJWK()
	priv2, _ := rsa.GenerateKey(rand.Reader, 2048)
	rk2, _ := azattest.NewRuntimeKey(priv2, "b")
	jwk2, _ := rk2.PublicJWK()
	for _, tc := range []struct {
		name, runtime, kid string
		wantKid            string
		wantErr            error
	}{
		{name: "bare JWK", runtime: string(jwk), wantKid: "a"},
		{name: "jwk member", runtime: `{"jwk":` + string(jwk) + `,"nonce":"x"}`, wantKid: "a"},
		{name: "set of two without kid", runtime: `{"keys":[` + string(jwk) + `,` + string(jwk2) + `]}`, wantErr: azattest.ErrAttestedKeyAmbiguous},
		{name: "set of two with kid", runtime: `{"keys":[` + string(jwk) + `,` + string(jwk2) + `]}`, kid: "b", wantKid: "b"},
		{name: "kid not in set", runtime: `{"keys":[` + string(jwk) + `]}`, kid: "zz", wantErr: azattest.ErrNoAttestedKey},
		{name: "no key", runtime: `{"hello":"world"}`, wantErr: azattest.ErrNoAttestedKey},
		{name: "signing key", runtime: strings.Replace(string(jwk), `"use":"enc"`, `"use":"sig"`, 1), wantErr: azattest.ErrAttestedKeyUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := tokenWith(t, iss, jsonClaims(t, []byte(tc.runtime)))
			k, err := azattest.ExtractAttestedKey(tok, &azattest.AttestedKeyOptions{KeyID: tc.kid})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || k.KeyID != tc.wantKid {
				t.Fatalf("%+v %v", k, err)
			}
		})
	}
}

func TestAttestedKeyRefusesPrivateAndWeakKeys(t *testing.T) {
	iss := newRPIssuer(t)
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	full, _ := jose.JSONWebKey{Key: priv, KeyID: "leak"}.MarshalJSON()
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	weakJWK, _ := jose.JSONWebKey{Key: &weak.PublicKey}.MarshalJSON()
	for name, rt := range map[string][]byte{"private": full, "rsa-1024": weakJWK} {
		tok := tokenWith(t, iss, jsonClaims(t, rt))
		if _, err := azattest.ExtractAttestedKey(tok, nil); !errors.Is(err, azattest.ErrAttestedKeyUnsupported) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAttestedKeyBinaryRuntimeData(t *testing.T) {
	iss := newRPIssuer(t)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := azattest.NewRuntimeKey(ec, "")
	der, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkSet, _ := rk.RuntimeData()
	for name, rt := range map[string][]byte{"der": der, "pem": pemKey, "jwk-set": jwkSet} {
		t.Run(name, func(t *testing.T) {
			tok := tokenWith(t, iss, binaryClaims(rt))
			k, err := azattest.ExtractAttestedKey(tok, nil)
			if err != nil {
				t.Fatal(err)
			}
			if k.Claim != "x-ms-sgx-ehd" || !k.ReportDataChecked {
				t.Fatalf("%+v", k)
			}
			roundTrip(t, k, rk)
		})
	}
	t.Run("key not matching report data", func(t *testing.T) {
		c := binaryClaims(der)
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		otherDER, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
		c["x-ms-sgx-ehd"] = base64.RawURLEncoding.EncodeToString(otherDER)
		_, err := azattest.ExtractAttestedKey(tokenWith(t, iss, c), nil)
		if !errors.Is(err, azattest.ErrAttestedKeyUnbound) || !strings.Contains(err.Error(), "x-ms-sgx-report-data[0:32]") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("no report data", func(t *testing.T) {
		c := binaryClaims(der)
		delete(c, "x-ms-sgx-report-data")
		if _, err := azattest.ExtractAttestedKey(tokenWith(t, iss, c), nil); !errors.Is(err, azattest.ErrAttestedKeyUnbound) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("snp report data", func(t *testing.T) {
		c := binaryClaims(der)
		c["x-ms-sevsnpvm-reportdata"] = c["x-ms-sgx-report-data"]
		delete(c, "x-ms-sgx-report-data")
		if _, err := azattest.ExtractAttestedKey(tokenWith(t, iss, c), nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no runtime data", func(t *testing.T) {
		if _, err := azattest.ExtractAttestedKey(tokenWith(t, iss, map[string]any{"x-ms-attestation-type": "sgx"}), nil); !errors.Is(err, azattest.ErrNoAttestedKey) {
			t.Fatalf("%v", err)
		}
	})
}

func TestUnwrapSecretRefusals(t *testing.T) {
	iss := newRPIssuer(t)
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	rk, _ := azattest.NewRuntimeKey(priv, "k")
	rt, _ := rk.RuntimeData()
	k, err := azattest.ExtractAttestedKey(tokenWith(t, iss, jsonClaims(t, rt)), nil)
	if err != nil {
		t.Fatal(err)
	}
	jwe, _ := k.WrapSecret([]byte("x"), nil)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	if _, err := azattest.UnwrapSecret(jwe, other); err == nil {
		t.Fatal("another key opened the JWE")
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := azattest.UnwrapSecret(jwe, ec); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Fatalf("EC key for an RSA JWE: %v", err)
	}
	// A JWE with a weaker key algorithm is refused before decryption.
	enc, _ := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.RSA1_5, Key: &priv.PublicKey}, nil)
	obj, _ := enc.Encrypt([]byte("x"))
	weak, _ := obj.CompactSerialize()
	if _, err := azattest.UnwrapSecret(weak, priv); err == nil {
		t.Fatal("RSA1_5 accepted")
	}
	parts := strings.Split(jwe, ".")
	parts[3] = parts[3][:len(parts[3])-2] + "AA"
	if _, err := azattest.UnwrapSecret(strings.Join(parts, "."), priv); err == nil {
		t.Fatal("tampered ciphertext opened")
	}
}

func TestValidateTokenRefusesUnsecuredAndExpired(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	iss, _ := fake.NewTokenIssuer(exampleEndpoint, func() time.Time { return now })
	opts := &azattest.ClientOptions{}
	opts.Transport = fake.NewServerTransport(&fake.Server{GetSigners: iss.GetSigners})
	client, _ := azattest.NewClient(exampleEndpoint, nil, opts)
	ctx := t.Context()
	good, _ := iss.Issue(map[string]any{"x": 1})
	v := &azattest.ValidateTokenOptions{Validation: &azattest.TokenValidationOptions{Now: func() time.Time { return now }, AllowUnsecured: true}}
	if _, err := client.ValidateToken(ctx, good.String(), v); err != nil {
		t.Fatal(err)
	}
	unsecured := strings.Join([]string{base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)), strings.Split(good.String(), ".")[1], ""}, ".")
	if _, err := client.ValidateToken(ctx, unsecured, v); !errors.Is(err, azattest.ErrUnsecuredToken) {
		t.Fatalf("alg none: %v", err)
	}
	late := &azattest.ValidateTokenOptions{Validation: &azattest.TokenValidationOptions{Now: func() time.Time { return now.Add(9 * time.Hour) }}}
	if _, err := client.ValidateToken(ctx, good.String(), late); !errors.Is(err, azattest.ErrTokenExpired) {
		t.Fatalf("expired: %v", err)
	}
	stranger, _ := fake.NewTokenIssuer("https://evil.test", func() time.Time { return now })
	bad, _ := stranger.Issue(map[string]any{"iss": exampleEndpoint})
	if _, err := client.ValidateToken(ctx, bad.String(), v); !errors.Is(err, azattest.ErrSignatureInvalid) {
		t.Fatalf("foreign signer: %v", err)
	}
}

// FuzzExtractAttestedKey feeds arbitrary binary runtime data (bound to the
// report data, so parsing is reached) through the key extraction.
func FuzzExtractAttestedKey(f *testing.F) {
	iss, err := fake.NewTokenIssuer("https://rp.test", nil)
	if err != nil {
		f.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	rk, _ := azattest.NewRuntimeKey(ec, "k")
	set, _ := rk.RuntimeData()
	f.Add(der)
	f.Add(set)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	f.Add([]byte(`{"jwk":{"kty":"EC","crv":"P-256","x":"","y":""}}`))
	f.Fuzz(func(t *testing.T, rt []byte) {
		tok, err := iss.Issue(binaryClaims(rt))
		if err != nil {
			t.Skip()
		}
		k, err := azattest.ExtractAttestedKey(tok, nil)
		if err == nil && (k.PublicKey == nil || !k.ReportDataChecked) {
			t.Fatalf("key without a checked binding: %+v", k)
		}
	})
}
