// Package loadgen drives attestation requests against an MAA-compatible
// endpoint and measures throughput and latency (the engine of `maat bench
// attest`), and measures the crypto-bound throughput of this machine for
// comparison: the two ECDSA-P256 verifications and one RS256 signature that
// every SGX attestation must do.
package loadgen

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maat-attest/maat/internal/jose"
	"github.com/maat-attest/maat/internal/keys"
)

// Options configures a load run. Endpoint, Evidence and a positive
// Concurrency and Duration are required.
type Options struct {
	Endpoint    string // e.g. https://localhost:8443
	Type        string // "SgxEnclave", "OpenEnclave", "SevSnpVm", "TdxVm" or "AzureGuest" (Evidence: the AttestationInfo JSON)
	APIVersion  string // default 2022-08-01
	Evidence    []byte
	RuntimeData []byte // optional, sent as Binary
	Concurrency int
	Duration    time.Duration
	// Client, when set, sends every request. nil (what `maat bench` uses)
	// means one kept-alive HTTP/1.1 connection per worker, written
	// directly (conn.go), with InsecureSkipVerify when Insecure.
	Client   *http.Client
	Insecure bool
	// RootCAs, when not nil, replaces the system roots for the endpoint's
	// TLS certificate (ignored when Client is set).
	RootCAs *x509.CertPool
	// MaxRequests stops the run early (0: no limit); bounds test runs.
	MaxRequests int64
	// Rate, when positive, caps the offered load at this many requests per
	// second in total (open-loop pacing); 0 drives as fast as the workers go.
	Rate float64
	// Progress, when set, is called about once a second during the run
	// with the requests and errors so far.
	Progress func(requests, errors int64, elapsed time.Duration)
}

// maxFirstErrors bounds Result.FirstErrors.
const maxFirstErrors = 5

// Result summarises a run.
type Result struct {
	Requests   int64            `json:"requests"`
	Errors     int64            `json:"errors"`
	ErrorCodes map[string]int64 `json:"errorCodes,omitempty"`
	// FirstErrors are the first distinct error messages, in order (at most
	// five): the service's error message or the transport error.
	FirstErrors []string `json:"firstErrors,omitempty"`
	Seconds     float64  `json:"seconds"`
	Throughput  float64  `json:"throughputPerSecond"`
	P50Millis   float64  `json:"p50Ms"`
	P95Millis   float64  `json:"p95Ms"`
	P99Millis   float64  `json:"p99Ms"`
	MaxMillis   float64  `json:"maxMs"`
	// DriverCPUMillis is the driver's own CPU per request (this process,
	// user+system; 0 where the platform does not tell): on a machine shared
	// with the server it is CPU the server did not get.
	DriverCPUMillis float64 `json:"driverCpuMsPerRequest,omitempty"`
}

// Run drives the endpoint until Duration passes (or MaxRequests), with
// Concurrency workers each sending one request at a time. It returns an
// error only for invalid options; request failures are counted.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Endpoint == "" || len(o.Evidence) == 0 || o.Concurrency < 1 || o.Duration <= 0 {
		return nil, errors.New("loadgen: endpoint, evidence, concurrency >= 1 and duration > 0 are required")
	}
	if o.Type == "" {
		o.Type = "SgxEnclave"
	}
	if o.APIVersion == "" {
		o.APIVersion = "2022-08-01"
	}
	// The evidence member of each single-shot type (httpapi's table).
	field := "quote"
	switch o.Type {
	case "OpenEnclave", "SevSnpVm":
		field = "report"
	case "AzureGuest":
		field = "AttestationInfo"
	}
	req := map[string]any{field: jose.B64.EncodeToString(o.Evidence)}
	if o.RuntimeData != nil {
		req["runtimeData"] = map[string]string{"data": jose.B64.EncodeToString(o.RuntimeData), "dataType": "Binary"}
	}
	body, _ := json.Marshal(req)
	url := o.Endpoint + "/attest/" + o.Type + "?api-version=" + o.APIVersion
	// With no Client, each worker drives its own kept-alive connection
	// (conn.go); a Client given by the caller is used as it is.
	var tg *target
	if o.Client == nil {
		var err error
		if tg, err = newTarget(url, body, o.Insecure, o.RootCAs); err != nil {
			return nil, err
		}
	}

	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		codes     = map[string]int64{}
		first     []string
		count     atomic.Int64
		errs      atomic.Int64
		wg        sync.WaitGroup
	)
	var pace <-chan time.Time
	if o.Rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
		defer t.Stop()
		pace = t.C
	}
	start, cpu0 := time.Now(), processCPU()
	if o.Progress != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-ctx.Done():
					return
				case <-t.C:
					o.Progress(count.Load(), errs.Load(), time.Since(start))
				}
			}
		}()
	}
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1024)
			send := func() (string, string) { return do(ctx, o.Client, url, body) }
			if tg != nil {
				k := &conn{t: tg}
				defer k.close()
				send = func() (string, string) { return k.do(ctx) }
			}
			for ctx.Err() == nil {
				if pace != nil {
					select {
					case <-pace:
					case <-ctx.Done():
					}
					if ctx.Err() != nil {
						break
					}
				}
				if n := count.Add(1); o.MaxRequests > 0 && n > o.MaxRequests {
					break
				}
				t0 := time.Now()
				code, msg := send()
				if ctx.Err() != nil && code != "" {
					break // cut off by the deadline: not a server error
				}
				local = append(local, time.Since(t0))
				if code != "" {
					errs.Add(1)
					mu.Lock()
					codes[code]++
					if len(first) < maxFirstErrors && !slices.Contains(first, msg) {
						first = append(first, msg)
					}
					mu.Unlock()
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	res := &Result{Requests: int64(len(latencies)), Errors: errs.Load(), Seconds: elapsed}
	if cpu := processCPU() - cpu0; cpu > 0 && cpu0 > 0 && res.Requests > 0 {
		res.DriverCPUMillis = float64(cpu) / float64(time.Millisecond) / float64(res.Requests)
	}
	if len(codes) > 0 {
		res.ErrorCodes = codes
		res.FirstErrors = first
	}
	if elapsed > 0 {
		res.Throughput = float64(res.Requests-res.Errors) / elapsed
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		i := int(p * float64(len(latencies)-1))
		return float64(latencies[i].Microseconds()) / 1000
	}
	res.P50Millis, res.P95Millis, res.P99Millis, res.MaxMillis = pct(0.50), pct(0.95), pct(0.99), pct(1)
	return res, nil
}

// do sends one request through c (Options.Client) and classifies the answer.
func do(ctx context.Context, c *http.Client, url string, body []byte) (code, msg string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "request", err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "transport", err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	return classify(resp.StatusCode, b)
}

// tokenMember is how a successful attestation's body begins.
var tokenMember = []byte(`{"token":`)

// classify returns "" for a 200 whose body is a token response, else a
// short error label (HTTP status and MAA code, or "no token") and the
// message (the service's error message, or the start of the body).
func classify(status int, b []byte) (code, msg string) {
	if status == http.StatusOK {
		if bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), tokenMember) {
			return "", ""
		}
		return "200 no token", "200 no token: " + clip(b)
	}
	var env struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(b, &env)
	code = fmt.Sprintf("%d %s", status, env.Error.Code)
	msg = env.Error.Message
	if msg == "" {
		msg = clip(b)
	}
	return code, code + ": " + msg
}

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// CryptoBound measures, on all CPUs for d, how many times per second this
// machine can do the unavoidable crypto of one SGX attestation: two
// ECDSA-P256 verifications (quote and QE report signatures) and one
// RSA-2048 PKCS#1 v1.5 signature (the token) with Go's crypto. It is the
// ceiling attestation throughput can approach.
func CryptoBound(d time.Duration) float64 {
	f := CryptoFloor(d, keys.BackendGo)
	return f.PerSecond
}

// Floor is the crypto floor of one attestation with the token signed
// through one signer backend.
type Floor struct {
	Signer string `json:"signer"`
	// PerSecond is the rate on all CPUs (wall clock).
	PerSecond float64 `json:"perSecond,omitempty"`
	// PerCPUSecond is the rate per CPU-second this process spent: steadier
	// than PerSecond on a shared machine, and what a server's CPU per
	// attestation compares with.
	PerCPUSecond float64 `json:"perCPUSecond,omitempty"`
	// Unavailable says why the backend could not be measured (not compiled
	// in, libcrypto failing); the rates are then zero.
	Unavailable string `json:"unavailable,omitempty"`
}

// CryptoFloor measures the floor for d with the token signature made by
// signer ("go" or "openssl"; keys.NewBackend's names). A backend that is not
// available yields a Floor with Unavailable set.
func CryptoFloor(d time.Duration, signer string) Floor {
	out := Floor{Signer: signer}
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		out.Unavailable = err.Error()
		return out
	}
	backend, err := keys.NewBackend(signer, nil)
	if err != nil {
		out.Unavailable = err.Error()
		return out
	}
	ks, err := backend.Load(rk)
	if err != nil {
		out.Unavailable = err.Error()
		return out
	}
	defer ks.Close()
	msg := sha256.Sum256([]byte("maat crypto bound"))
	sig, _ := ecdsa.SignASN1(rand.Reader, ek, msg[:])
	var ops atomic.Int64
	cpu0 := processCPU()
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				ecdsa.VerifyASN1(&ek.PublicKey, msg[:], sig)
				ecdsa.VerifyASN1(&ek.PublicKey, msg[:], sig)
				if _, err := ks.Sign(rand.Reader, msg[:], crypto.SHA256); err != nil {
					return
				}
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	n := float64(ops.Load())
	out.PerSecond = n / time.Since(start).Seconds()
	if cpu := processCPU() - cpu0; cpu > 0 {
		out.PerCPUSecond = n / cpu.Seconds()
	}
	return out
}

// CryptoFloors measures the floor for every signer backend, "go" then
// "openssl", d each, one after the other in this run (so their ratio is a
// same-run ratio); a backend not compiled in is reported as unavailable.
func CryptoFloors(d time.Duration) []Floor {
	return []Floor{CryptoFloor(d, keys.BackendGo), CryptoFloor(d, keys.BackendOpenSSL)}
}

// ProcessCPU returns the user+system CPU time process pid has used, from
// /proc/PID/stat (Linux). It returns an error when the file cannot be read
// or parsed.
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("loadgen: server CPU: %w", err)
	}
	return parseProcStat(b)
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports (sysconf(_SC_CLK_TCK) needs cgo).
const clockTicks = 100

func parseProcStat(b []byte) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may hold spaces and
	// parentheses itself: fields are counted after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("loadgen: server CPU: malformed /proc stat line")
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state is field 3, utime 14 and stime 15.
	if len(f) < 13 {
		return 0, errors.New("loadgen: server CPU: /proc stat line too short")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("loadgen: server CPU: %w", err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}
