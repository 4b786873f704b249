package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
)

// startMetrics starts a replay server (recorded OpenEnclave evidence,
// pinned clock) with an admin listener.
func startMetrics(t *testing.T) *running {
	t.Helper()
	cfg := replayConfig(t, "aad")
	cfg.MetricsAddr = "127.0.0.1:0"
	return start(t, cfg)
}

// attestOnce posts one attestation and returns the result label the
// server must count it under: "ok" or the x-ms-error-code.
func attestOnce(t *testing.T, addr, typ, member string, evidence []byte) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{member: jose.B64.EncodeToString(evidence)})
	resp, err := http.Post("http://"+addr+"/attest/"+typ+"?api-version=2022-08-01", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return "ok"
	}
	code := resp.Header.Get("x-ms-error-code")
	if code == "" {
		t.Fatalf("attest %s: %d without x-ms-error-code: %s", typ, resp.StatusCode, b)
	}
	return code
}

// TestPrometheusScrapesAttestationCounter runs Debian's Prometheus server
// against a running Maat: after a short load of attestations of known type
// and result, Prometheus's HTTP API must report maat_attestations_total
// equal to the number sent, per type and result.
func TestPrometheusScrapesAttestationCounter(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("MAAT_REQUIRE_PROMETHEUS") == "1" {
			t.Fatal("MAAT_REQUIRE_PROMETHEUS=1 but no prometheus binary in PATH (apt-get install prometheus)")
		}
		t.Skip("no prometheus binary in PATH (Debian package prometheus; .ci/run installs it); set MAAT_REQUIRE_PROMETHEUS=1 to fail instead")
	}
	r := startMetrics(t)
	report := readB64(t, sgxvectors.Path("maa", "openenclave_report.b64url"))
	bad := bytes.Clone(report)
	bad[len(bad)/2] ^= 0xff // breaks the quote's signature

	want := map[[2]string]int{}
	for i := range 12 {
		typ, ev := "OpenEnclave", report
		switch i % 4 {
		case 1:
			ev = bad
		case 3:
			typ = "SgxEnclave"
			ev = report[16:] // the SGX quote inside the OE report
		}
		member := "report"
		if typ == "SgxEnclave" {
			member = "quote"
		}
		want[[2]string{typ, attestOnce(t, r.app.HTTPAddr(), typ, member, ev)}]++
	}
	t.Logf("sent (type, result) → count: %v", want)
	if len(want) < 2 {
		t.Fatalf("the load must produce several (type, result) series, got %v", want)
	}

	dir := t.TempDir()
	promAddr := freeAddr(t)
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: maat
    static_configs:
      - targets: ["%s"]
`, r.app.AdminAddr())
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var promLog bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+promAddr)
	cmd.Stdout, cmd.Stderr = &promLog, &promLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", promLog.String())
		}
	})

	deadline := time.Now().Add(60 * time.Second)
	var got map[[2]string]int
	for time.Now().Before(deadline) {
		got, err = queryAttestations(promAddr)
		if err == nil && equalCounts(got, want) {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("Prometheus reports %v (last error %v), sent %v", got, err, want)
}

func equalCounts(a, b map[[2]string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// queryAttestations asks Prometheus's HTTP API for maat_attestations_total.
func queryAttestations(promAddr string) (map[[2]string]int, error) {
	resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(`maat_attestations_total{job="maat"}`))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query status %q", body.Status)
	}
	out := map[[2]string]int{}
	for _, s := range body.Data.Result {
		v, _ := s.Value[1].(string)
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, err
		}
		out[[2]string{s.Metric["type"], s.Metric["result"]}] = int(n)
	}
	return out, nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestMetricsNotOnMAAListener: /metrics (and the admin paths) stay MAA's
// 404 envelope on the MAA listener while the admin listener serves them.
func TestMetricsNotOnMAAListener(t *testing.T) {
	r := startMetrics(t)
	for _, p := range []string{"/metrics", "/debug/pprof/"} {
		resp, err := http.Get("http://" + r.app.HTTPAddr() + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var env struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if resp.StatusCode != http.StatusNotFound || json.Unmarshal(b, &env) != nil || env.Error.Code != string(maaerr.NotFound) ||
			resp.Header.Get("x-ms-error-code") != string(maaerr.NotFound) {
			t.Fatalf("GET %s on the MAA listener: %d %s, want MAA's 404 envelope", p, resp.StatusCode, b)
		}
	}
	resp, err := http.Get("http://" + r.app.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "maat_http_requests_in_flight") || !strings.Contains(string(b), "go_goroutines") {
		t.Fatalf("admin /metrics: %d %.300s", resp.StatusCode, b)
	}
	// pprof is off unless enabled.
	resp, err = http.Get("http://" + r.app.AdminAddr() + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("admin /debug/pprof/ without pprof: %d, want 404", resp.StatusCode)
	}
}
