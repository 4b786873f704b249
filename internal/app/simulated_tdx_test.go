package app

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/maat-attest/maat/internal/simulate"
	"github.com/maat-attest/maat/sdk/azattest"
)

var (
	tdxSimMRTD     = bytes.Repeat([]byte{0x7d}, 48)
	tdxSimRTMR2    = bytes.Repeat([]byte{0xa2}, 48)
	tdxSimInitTime = []byte(`{"td":"simulated"}`)
)

func simTD(k *teeKey, debug bool) simulate.TD {
	td := simulate.DefaultTD()
	td.ReportData = simulate.ReportDataFor(k.runtime)
	td.Debug = debug
	copy(td.MRTD[:], tdxSimMRTD)
	copy(td.RTMR[2][:], tdxSimRTMR2)
	td.MRConfigID = simulate.MRConfigIDFor(tdxSimInitTime)
	return td
}

func attestSimTDX(ctx context.Context, c *azattest.Client, q []byte, k *teeKey) (azattest.AttestationResult, error) {
	r, err := c.AttestTDXVM(ctx, q, &azattest.AttestTDXVMOptions{RuntimeData: k.data(),
		InitTimeData: &azattest.AttestationData{Data: tdxSimInitTime, DataType: azattest.DataTypeJSON}})
	return r.AttestationResult, err
}

func apiClient(t *testing.T, endpoint string) *azattest.Client {
	t.Helper()
	client, err := azattest.NewClient(endpoint, nil, &azattest.ClientOptions{ServiceVersion: azattest.ServiceVersion2025_06_01})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// Simulated TD quotes through POST /attest/TdxVm on a --dev server that
// trusts simulated evidence: binary and JSON runtime data bind to
// REPORTDATA, init-time data to MRCONFIGID, the chosen fields land in the
// tdx_* claims, the token says the evidence is simulated, and a JSON
// runtime key is extractable and usable. Tampering fails as it does for
// real quotes.
func TestSimulatedTdx(t *testing.T) {
	_, endpoint, p := simServer(t, true, true)
	ctx := context.Background()
	client := apiClient(t, endpoint)
	for _, isJSON := range []bool{true, false} {
		name := "binary"
		if isJSON {
			name = "json"
		}
		t.Run(name, func(t *testing.T) {
			k := newTEEKey(t, isJSON)
			td := simTD(k, isJSON)
			q, err := p.TDQuote(td)
			if err != nil {
				t.Fatal(err)
			}
			res, err := attestSimTDX(ctx, client, q, k)
			if err != nil {
				t.Fatal(err)
			}
			c := res.RawClaims
			dbg := map[bool]string{true: "enabled", false: "disabled"}[isJSON]
			want := map[string]any{
				simulate.ClaimSimulated:   true,
				"x-ms-attestation-type":   "tdxvm",
				"tdx_mrtd":                hex.EncodeToString(tdxSimMRTD),
				"tdx_rtmr2":               hex.EncodeToString(tdxSimRTMR2),
				"tdx_mrconfigid":          hex.EncodeToString(td.MRConfigID[:]),
				"tdx_report_data":         hex.EncodeToString(td.ReportData[:]),
				"tdx_td_attributes_debug": isJSON,
				"dbgstat":                 dbg,
				"attester_tcb_status":     "UpToDate",
				"x-maat-tdx-module-id":    "TDX_01",
			}
			for k, w := range want {
				if c[k] != w {
					t.Errorf("%s = %v (%T), want %v", k, c[k], c[k], w)
				}
			}
			if it, _ := json.Marshal(c["x-ms-inittime"]); string(it) != string(tdxSimInitTime) {
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
			secret := []byte("for the simulated TD")
			jwe, err := ak.WrapSecret(secret, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := k.rk.UnwrapSecret(jwe); err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("unwrap: %q %v", got, err)
			}
		})
	}

	k := newTEEKey(t, true)
	q, err := p.TDQuote(simTD(k, false))
	if err != nil {
		t.Fatal(err)
	}
	// One byte flipped: in the TD report (MRTD, REPORTDATA) the quote
	// signature fails; in the QE report its PCK signature; in the
	// attestation key the QE report's binding of it.
	for _, tc := range []struct {
		off  int
		want string
	}{{48 + 136, "quote signature"}, {48 + 520, "quote signature"}, {632 + 4 + 64 + 64 + 6 + 100, "QE report signature"}, {632 + 4 + 64 + 10, "QE report data"}} {
		m := bytes.Clone(q)
		m[tc.off] ^= 1
		_, err = attestSimTDX(ctx, client, m, k)
		if st, code := httpErrorCode(err); st != 400 || code != "InvalidQuote" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("byte %d flipped: %d %s %v", tc.off, st, code, err)
		}
	}
	// Runtime data other than what REPORTDATA binds: refused.
	if _, err := attestSimTDX(ctx, client, q, newTEEKey(t, true)); err == nil {
		t.Error("runtime data not bound to REPORTDATA accepted")
	} else if st, code := httpErrorCode(err); st != 400 || code != "InvalidParameter" {
		t.Errorf("unbound runtime data: %d %s %v", st, code, err)
	}
	// Init-time data other than what MRCONFIGID binds: refused.
	r, err := client.AttestTDXVM(ctx, q, &azattest.AttestTDXVMOptions{RuntimeData: k.data(),
		InitTimeData: &azattest.AttestationData{Data: []byte(`{"td":"other"}`), DataType: azattest.DataTypeJSON}})
	if st, code := httpErrorCode(err); err == nil || st != 400 || code != "InvalidParameter" {
		t.Errorf("unbound init-time data: %v %d %s %v", r.RawClaims, st, code, err)
	}
}

// A server without --dev never trusts simulated TD quotes, with or without
// the trust flag; a --dev server without the flag does not either.
func TestSimulatedTdxRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		dev, trust bool
	}{{"production with the trust flag", false, true}, {"production without it", false, false}, {"dev without the flag", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			_, endpoint, p := simServer(t, tc.dev, tc.trust)
			k := newTEEKey(t, true)
			q, err := p.TDQuote(simTD(k, false))
			if err != nil {
				t.Fatal(err)
			}
			_, err = attestSimTDX(context.Background(), apiClient(t, endpoint), q, k)
			st, code := httpErrorCode(err)
			if st != 400 || code != "InvalidQuote" || !strings.Contains(err.Error(), `root \"Maat Development SGX Root CA\"`) || !strings.Contains(err.Error(), "is not a trusted root") {
				t.Fatalf("%d %s: %v", st, code, err)
			}
		})
	}
}
