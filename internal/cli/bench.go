package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/maat-attest/maat/internal/loadgen"
)

func newBenchCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Load drivers for MAA-compatible endpoints"}
	var (
		o                   loadgen.Options
		evidence, runtime   string
		typ                 string
		asJSON, cryptoBound bool
		serverPID           int
		driverCPUs          string
		maxErrorRate        float64
		tf                  transportFlags
	)
	var (
		cpu0   time.Duration // the server's CPU time before the load
		report func(cmd *cobra.Command, res *loadgen.Result, pinned []int) error
	)
	attest := &cobra.Command{
		Use:   "attest",
		Short: "Drive attestations and print throughput, latency percentiles and errors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			ev, err := evidenceReadFile(evidence, true)
			if err != nil {
				return err
			}
			o.Evidence = ev
			if runtime != "" {
				if o.RuntimeData, err = os.ReadFile(runtime); err != nil {
					return err
				}
			}
			if maxErrorRate < 0 || maxErrorRate > 1 {
				return fmt.Errorf("--max-error-rate %v: want a fraction between 0 and 1", maxErrorRate)
			}
			if p := tf.caFile(); p != "" && !o.Insecure {
				hc, err := tf.httpClient()
				if err != nil {
					return err
				}
				o.RootCAs = hc.Transport.(*http.Transport).TLSClientConfig.RootCAs
			}
			if isTerminal(cmd.ErrOrStderr()) {
				w := cmd.ErrOrStderr()
				o.Progress = func(n, e int64, d time.Duration) {
					fmt.Fprintf(w, "\r%s: %d requests, %d errors", d.Truncate(time.Second), n, e)
				}
				defer fmt.Fprintln(w)
			}
			switch typ {
			case "sgx":
				o.Type = "SgxEnclave"
			case "openenclave":
				o.Type = "OpenEnclave"
			case "sevsnp":
				// --evidence is the SevSnpVm "report" JSON
				// ({"SnpReport","VcekCertChain"}), sent base64url as clients do.
				o.Type = "SevSnpVm"
			case "tdx":
				o.Type = "TdxVm"
			case "azureguest":
				// The AttestationInfo JSON (maat attest azureguest --save-info);
				// the server answers replays of it, sealed to the same EncKey.
				o.Type = "AzureGuest"
			default:
				return fmt.Errorf("--type must be sgx, openenclave, sevsnp, tdx or azureguest, not %q", typ)
			}
			if serverPID > 0 {
				if cpu0, err = loadgen.ProcessCPU(serverPID); err != nil {
					return fmt.Errorf("--server-pid: %w", err)
				}
			}
			var pinned []int
			restore := func() error { return nil }
			if driverCPUs != "" {
				if pinned, err = loadgen.ParseCPUList(driverCPUs); err != nil {
					return fmt.Errorf("--driver-cpus: %w", err)
				}
				if restore, err = loadgen.PinProcess(pinned); err != nil {
					return fmt.Errorf("--driver-cpus %s: %w", driverCPUs, err)
				}
			}
			res, err := loadgen.Run(cmd.Context(), o)
			// The floors in the report are measured on every CPU again.
			if rerr := restore(); rerr != nil && err == nil {
				err = fmt.Errorf("--driver-cpus: restoring the CPU mask: %w", rerr)
			}
			if err != nil {
				return err
			}
			return report(cmd, res, pinned)
		},
	}
	report = func(cmd *cobra.Command, res *loadgen.Result, pinned []int) (err error) {
		defer func() {
			// The verdict comes after the report, whichever format.
			if err == nil {
				err = benchVerdict(res, maxErrorRate)
			}
		}()
		out := benchOutput{Result: res, Concurrency: o.Concurrency, DriverCPUs: pinned}
		if serverPID > 0 {
			cpu1, err := loadgen.ProcessCPU(serverPID)
			if err != nil {
				return fmt.Errorf("--server-pid: %w", err)
			}
			if ok := res.Requests - res.Errors; ok > 0 && cpu1 > cpu0 {
				out.ServerCPUMillis = float64(cpu1-cpu0) / float64(time.Millisecond) / float64(ok)
				out.ServerCores = (cpu1 - cpu0).Seconds() / res.Seconds
			}
		}
		if cryptoBound {
			// Measured after the load so the driver does not compete
			// with itself; both floors in this run, one after the other.
			for _, f := range loadgen.CryptoFloors(3 * time.Second) {
				out.Floors = append(out.Floors, benchFloor{Floor: f})
			}
			out.CryptoBoundRate = out.Floors[0].PerSecond
			out.RatioToBound = res.Throughput / out.CryptoBoundRate
			for i, f := range out.Floors {
				if f.PerSecond > 0 {
					out.Floors[i].Ratio = res.Throughput / f.PerSecond
				}
				if f.PerCPUSecond > 0 && out.ServerCPUMillis > 0 {
					out.Floors[i].RatioPerServerCPU = 1000 / out.ServerCPUMillis / f.PerCPUSecond
				}
			}
		}
		w := cmd.OutOrStdout()
		if asJSON {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		fmt.Fprintf(w, "requests %d, errors %d in %.1fs (concurrency %d)\n", res.Requests, res.Errors, res.Seconds, o.Concurrency)
		if len(pinned) > 0 {
			fmt.Fprintf(w, "driver pinned to CPUs %v (GOMAXPROCS %d)\n", pinned, len(pinned))
		}
		fmt.Fprintf(w, "throughput %.1f/s\nlatency p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms\n", res.Throughput, res.P50Millis, res.P95Millis, res.P99Millis, res.MaxMillis)
		for code, n := range res.ErrorCodes {
			fmt.Fprintf(w, "error %s: %d\n", code, n)
		}
		for _, msg := range res.FirstErrors {
			fmt.Fprintf(w, "first error: %s\n", msg)
		}
		if serverPID > 0 {
			fmt.Fprintf(w, "server CPU %.3f ms per attestation (pid %d, %.2f cores busy)\n", out.ServerCPUMillis, serverPID, out.ServerCores)
		}
		if res.DriverCPUMillis > 0 {
			fmt.Fprintf(w, "driver CPU %.3f ms per request\n", res.DriverCPUMillis)
		}
		for _, f := range out.Floors {
			if f.Unavailable != "" {
				fmt.Fprintf(w, "crypto floor %s: not measured (%s)\n", f.Signer, f.Unavailable)
				continue
			}
			fmt.Fprintf(w, "crypto floor %s: %.1f/s (2x ECDSA-P256 verify + 1x RS256 sign, all CPUs), %.1f per CPU-second; ratio %.2f", f.Signer, f.PerSecond, f.PerCPUSecond, f.Ratio)
			if f.RatioPerServerCPU > 0 {
				fmt.Fprintf(w, ", per server CPU %.2f", f.RatioPerServerCPU)
			}
			fmt.Fprintln(w)
		}
		return nil
	}
	f := attest.Flags()
	f.StringVar(&o.Endpoint, "endpoint", "", "endpoint base URL, e.g. https://localhost:8443")
	f.StringVar(&evidence, "evidence", "", "evidence file (raw, hex, base64 or base64url): SGX quote or OE report")
	f.StringVar(&runtime, "runtime-data", "", "runtime data file, sent as Binary")
	f.StringVar(&typ, "type", "openenclave", "sgx, openenclave, sevsnp (evidence: the SevSnpVm report JSON), tdx, or azureguest (evidence: the AttestationInfo JSON from maat attest azureguest --save-info)")
	f.IntVar(&o.Concurrency, "concurrency", 4, "concurrent requests")
	f.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to drive load")
	f.Float64Var(&o.Rate, "rate", 0, "cap the offered load at this many requests per second (0: as fast as possible)")
	f.StringVar(&o.APIVersion, "api-version", "2022-08-01", "api-version to send")
	f.BoolVar(&o.Insecure, "insecure", false, "skip TLS certificate verification (self-signed dev servers)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&cryptoBound, "crypto-bound", false, "also measure this machine's crypto floor (Go and OpenSSL token signing, same run) and the ratios")
	f.StringVar(&driverCPUs, "driver-cpus", "", "pin the load driver to these CPUs (Linux CPU list: 1, 0,2, 1-3) and set its GOMAXPROCS to their number, leaving the other cores to a server on this machine; the crypto floors are still measured on every CPU")
	f.IntVar(&serverPID, "server-pid", 0, "PID of a server on this machine: report its CPU per attestation (from /proc/PID/stat)")
	f.Float64Var(&maxErrorRate, "max-error-rate", 0.01, "exit non-zero when more than this fraction of requests fail (0 tolerates none)")
	f.StringVar(&tf.caCert, "ca-cert", "", "PEM file of CA certificate(s) trusted for the endpoint, besides the system roots (env "+clientEnvCACert+")")
	_ = attest.MarkFlagRequired("endpoint")
	_ = attest.MarkFlagRequired("evidence")
	cmd.AddCommand(attest)
	return cmd
}

// benchOutput is what `maat bench attest` prints (--json: as is).
type benchOutput struct {
	*loadgen.Result
	Concurrency int `json:"concurrency"`
	// DriverCPUs are the CPUs the driver ran on (--driver-cpus).
	DriverCPUs []int `json:"driverCpus,omitempty"`
	// The Go floor, as before the OpenSSL floor existed.
	CryptoBoundRate float64      `json:"cryptoBoundPerSecond,omitempty"`
	RatioToBound    float64      `json:"ratioToCryptoBound,omitempty"`
	Floors          []benchFloor `json:"cryptoFloors,omitempty"`
	ServerCPUMillis float64      `json:"serverCpuMsPerAttestation,omitempty"`
	ServerCores     float64      `json:"serverCoresBusy,omitempty"`
}

type benchFloor struct {
	loadgen.Floor
	Ratio             float64 `json:"ratio,omitempty"`             // throughput / floor (all CPUs)
	RatioPerServerCPU float64 `json:"ratioPerServerCpu,omitempty"` // attestations per server CPU-second / floor per CPU-second
}

// benchVerdict fails a run with no successful request or more failures
// than maxRate allows.
func benchVerdict(res *loadgen.Result, maxRate float64) error {
	if res.Requests == 0 {
		return errors.New("no request completed")
	}
	rate := float64(res.Errors) / float64(res.Requests)
	if res.Errors == res.Requests || rate > maxRate {
		first := ""
		if len(res.FirstErrors) > 0 {
			first = "; first error: " + res.FirstErrors[0]
		}
		return fmt.Errorf("%d of %d requests failed (%.1f%%, more than --max-error-rate %.1f%%)%s", res.Errors, res.Requests, 100*rate, 100*maxRate, first)
	}
	return nil
}

// isTerminal reports whether w is a terminal (progress lines only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
