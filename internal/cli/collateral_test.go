package cli

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestCollateralFetchSevSnp: `maat collateral fetch --type sevsnp` fills a
// data directory's AMD cache from a (fake, local) KDS for a real Milan
// report; the CRL the fake does not serve is a warning; a second run is
// served from the cache without a KDS request.
func TestCollateralFetchSevSnp(t *testing.T) {
	td := filepath.Join("..", "evidence", "sevsnp", "testdata", "tav")
	vcekPEM, err := os.ReadFile(filepath.Join(td, "milan_vcek.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(vcekPEM)
	var vcekHits atomic.Int64
	kds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/vcek/v1/Milan/") && !strings.HasSuffix(r.URL.Path, "/crl") {
			vcekHits.Add(1)
			w.Header().Set("Content-Type", "application/pkix-cert")
			w.Write(blk.Bytes)
			return
		}
		http.NotFound(w, r)
	}))
	defer kds.Close()
	data := t.TempDir()
	report := filepath.Join(td, "milan_attestation_report.bin")
	out, errOut, err := runCmd(t, NewCollateralCommand(), "fetch", "--type", "sevsnp", "--data", data, "--kds-url", kds.URL, report)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(out, "Milan") || !strings.Contains(out, "cached") || !strings.Contains(errOut, "CRL not") {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
	if vcekHits.Load() != 1 {
		t.Fatalf("%d VCEK fetches", vcekHits.Load())
	}
	if _, _, err := runCmd(t, NewCollateralCommand(), "fetch", "--data", data, "--kds-url", kds.URL, report); err != nil {
		t.Fatal(err)
	}
	if vcekHits.Load() != 1 {
		t.Fatalf("the second run fetched again (%d)", vcekHits.Load())
	}
	if _, _, err := runCmd(t, NewCollateralCommand(), "fetch", "--type", "tdx", "--data", data, report); err == nil {
		t.Fatal("--type tdx accepted")
	}
}
