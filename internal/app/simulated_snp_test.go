package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/simulate"
	"github.com/maat-attest/maat/sdk/azattest"
)

var (
	snpSimMeasurement = bytes.Repeat([]byte{0x4e}, 48)
	snpSimInitTime    = []byte(`{"policy":"simulated"}`)
)

func simSNPGuest(k *teeKey, debug bool) simulate.SNPGuest {
	g := simulate.SNPGuest{ReportData: simulate.ReportDataFor(k.runtime), Debug: debug, VMPL: 1}
	copy(g.Measurement[:], snpSimMeasurement)
	g.HostData = sha256.Sum256(snpSimInitTime)
	return g
}

func attestSimSNP(ctx context.Context, c *azattest.Client, ev []byte, k *teeKey) (azattest.AttestationResult, error) {
	r, err := c.AttestSEVSNPVM(ctx, ev, &azattest.AttestSEVSNPVMOptions{RuntimeData: k.data(),
		InitTimeData: &azattest.AttestationData{Data: snpSimInitTime, DataType: azattest.DataTypeJSON}})
	return r.AttestationResult, err
}

// Simulated SEV-SNP reports through POST /attest/SevSnpVm on a --dev server
// that trusts simulated evidence: binary and JSON runtime data bind to
// REPORT_DATA, init-time data to HOST_DATA, the chosen fields land in the
// x-ms-sevsnpvm-* claims, the token says the evidence is simulated, and a
// JSON runtime key is extractable and usable. One flipped byte fails.
func TestSimulatedSevSnp(t *testing.T) {
	_, endpoint, p := simServer(t, true, true)
	ctx := context.Background()
	client, err := azattest.NewClient(endpoint, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, isJSON := range []bool{true, false} {
		name := "binary"
		if isJSON {
			name = "json"
		}
		t.Run(name, func(t *testing.T) {
			k := newTEEKey(t, isJSON)
			g := simSNPGuest(k, isJSON)
			ev, err := p.SNPEvidence(g)
			if err != nil {
				t.Fatal(err)
			}
			res, err := attestSimSNP(ctx, client, ev, k)
			if err != nil {
				t.Fatal(err)
			}
			c := res.RawClaims
			rd := simulate.ReportDataFor(k.runtime)
			want := map[string]any{
				simulate.ClaimSimulated:           true,
				"x-ms-attestation-type":           "sevsnpvm",
				"x-ms-sevsnpvm-launchmeasurement": hex.EncodeToString(snpSimMeasurement),
				"x-ms-sevsnpvm-hostdata":          hex.EncodeToString(g.HostData[:]),
				"x-ms-sevsnpvm-reportdata":        hex.EncodeToString(rd[:]),
				"x-ms-sevsnpvm-is-debuggable":     isJSON,
				"x-ms-sevsnpvm-vmpl":              float64(1),
				"x-maat-sevsnpvm-product":         "Milan",
				"x-maat-sevsnpvm-signing-key":     "vcek",
			}
			for k, w := range want {
				if c[k] != w {
					t.Errorf("%s = %v (%T), want %v", k, c[k], c[k], w)
				}
			}
			if it, _ := json.Marshal(c["x-ms-inittime"]); string(it) != string(snpSimInitTime) {
				t.Errorf("x-ms-inittime %s", it)
			}
			if !isJSON {
				return
			}
			valid, err := client.ValidateToken(ctx, res.Token.String(), nil)
			if err != nil {
				t.Fatal(err)
			}
			ak, err := azattest.ExtractAttestedKey(valid.Token, &azattest.AttestedKeyOptions{RequireReportDataCheck: true})
			if err != nil {
				t.Fatal(err)
			}
			if ak.Claim != "x-ms-runtime" || !ak.ReportDataChecked {
				t.Fatalf("attested key %+v", ak)
			}
			secret := []byte("for the simulated SNP guest")
			jwe, err := ak.WrapSecret(secret, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := k.rk.UnwrapSecret(jwe); err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("unwrap: %q %v", got, err)
			}
		})
	}

	// One byte of the report (REPORT_DATA, then MEASUREMENT) flipped: the
	// VCEK signature fails.
	k := newTEEKey(t, true)
	for _, off := range []int{0x50, 0x90} {
		rep, chain, err := p.SNPReport(simSNPGuest(k, false))
		if err != nil {
			t.Fatal(err)
		}
		rep[off] ^= 1
		ev, _ := json.Marshal(map[string]string{"SnpReport": base64.RawURLEncoding.EncodeToString(rep), "VcekCertChain": base64.RawURLEncoding.EncodeToString(chain)})
		_, err = attestSimSNP(ctx, client, ev, k)
		if st, code := httpErrorCode(err); st != 400 || code != "InvalidQuote" || !strings.Contains(err.Error(), "signature") {
			t.Errorf("byte 0x%x flipped: %d %s %v", off, st, code, err)
		}
	}
	// Runtime data other than what REPORT_DATA binds: refused.
	ev, _ := p.SNPEvidence(simSNPGuest(k, false))
	other := newTEEKey(t, true)
	if _, err := attestSimSNP(ctx, client, ev, other); err == nil {
		t.Error("runtime data not bound to REPORT_DATA accepted")
	} else if st, code := httpErrorCode(err); st != 400 || code != "InvalidParameter" {
		t.Errorf("unbound runtime data: %d %s %v", st, code, err)
	}
}

// A server without --dev never trusts simulated SEV-SNP evidence, with or
// without the trust flag; a --dev server without the flag does not either.
func TestSimulatedSevSnpRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		dev, trust bool
	}{{"production with the trust flag", false, true}, {"production without it", false, false}, {"dev without the flag", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			_, endpoint, p := simServer(t, tc.dev, tc.trust)
			client, err := azattest.NewClient(endpoint, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			k := newTEEKey(t, true)
			ev, err := p.SNPEvidence(simSNPGuest(k, false))
			if err != nil {
				t.Fatal(err)
			}
			_, err = attestSimSNP(context.Background(), client, ev, k)
			st, code := httpErrorCode(err)
			if st != 400 || code != "InvalidQuote" || !strings.Contains(err.Error(), "pinned ARK-Milan") || !strings.Contains(err.Error(), "Maat development PKI - not AMD") {
				t.Fatalf("%d %s: %v", st, code, err)
			}
		})
	}
}
