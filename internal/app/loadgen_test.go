package app

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/loadgen"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
	"github.com/maat-attest/maat/internal/testsupport/tdxvectors"
)

// TestLoadDriver runs the `maat bench attest` engine briefly against a real
// server: every request attests, the counts and percentiles are consistent.
func TestLoadDriver(t *testing.T) {
	r := start(t, replayConfig(t, "aad"))
	res, err := loadgen.Run(context.Background(), loadgen.Options{
		Endpoint:    "http://" + r.app.HTTPAddr(),
		Type:        "OpenEnclave",
		Evidence:    readB64(t, sgxvectors.Path("maa", "openenclave_report.b64url")),
		RuntimeData: readB64(t, sgxvectors.Path("maa", "runtime_data.b64url")),
		Concurrency: 3,
		Duration:    20 * time.Second,
		MaxRequests: 30,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 30 || res.Errors != 0 || res.Throughput <= 0 || res.P50Millis <= 0 || res.P99Millis < res.P50Millis || res.MaxMillis < res.P99Millis {
		t.Fatalf("load result %+v", res)
	}
	// A run whose requests all fail reports them as errors by code.
	res, err = loadgen.Run(context.Background(), loadgen.Options{
		Endpoint: "http://" + r.app.HTTPAddr(), Type: "SgxEnclave", Evidence: []byte("not a quote"),
		Concurrency: 1, Duration: 10 * time.Second, MaxRequests: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 3 || res.ErrorCodes["400 InvalidParameter"] != 3 {
		t.Fatalf("failing run %+v", res)
	}
	// Paced load: about Rate × Duration requests.
	res, err = loadgen.Run(context.Background(), loadgen.Options{
		Endpoint: "http://" + r.app.HTTPAddr(), Type: "OpenEnclave",
		Evidence:    readB64(t, sgxvectors.Path("maa", "openenclave_report.b64url")),
		Concurrency: 4, Duration: time.Second, Rate: 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 10 || res.Requests > 25 || res.Errors != 0 {
		t.Fatalf("paced run at 20/s for 1 s: %+v", res)
	}
	if _, err := loadgen.Run(context.Background(), loadgen.Options{}); err == nil {
		t.Fatal("empty options accepted")
	}
}

// TestLoadDriverConfidentialVMs: `maat bench attest --type sevsnp|tdx`
// drives /attest/SevSnpVm (the report JSON, base64url) and /attest/TdxVm
// with real evidence; every request attests.
func TestLoadDriverConfidentialVMs(t *testing.T) {
	spec, err := os.ReadFile(snpTestdata + "maa/2022-08-01_AttestSevSnpVm.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Parameters struct {
			Request struct {
				Report string `json:"report"`
			} `json:"request"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(spec, &d); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t.TempDir())
	cfg.HTTPSAddr = ""
	cfg.DevTime = "2022-09-21T22:00:00Z"
	snp := start(t, cfg)
	tdx := start(t, tdxConfig(t, "azure_dcesv5", "2025-06-01T00:00:00Z"))
	for _, tc := range []struct {
		name, base, typ string
		evidence        []byte
	}{
		{"SevSnpVm", "http://" + snp.app.HTTPAddr(), "SevSnpVm", mustB64(t, d.Parameters.Request.Report)},
		{"TdxVm", "http://" + tdx.app.HTTPAddr(), "TdxVm", tdxvectors.MustRead("azure_dcesv5", "quote.bin")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := loadgen.Run(context.Background(), loadgen.Options{
				Endpoint: tc.base, Type: tc.typ, APIVersion: "2025-06-01", Evidence: tc.evidence,
				Concurrency: 2, Duration: 20 * time.Second, MaxRequests: 10,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests != 10 || res.Errors != 0 {
				t.Fatalf("%s load: %+v", tc.typ, res)
			}
		})
	}
}
