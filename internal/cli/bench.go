package cli

import (
	"encoding/json"
	"fmt"
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
	)
	attest := &cobra.Command{
		Use:   "attest",
		Short: "Drive attestations and print throughput, latency percentiles and errors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			switch typ {
			case "sgx":
				o.Type = "SgxEnclave"
			case "openenclave":
				o.Type = "OpenEnclave"
			default:
				return fmt.Errorf("--type must be sgx or openenclave")
			}
			res, err := loadgen.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			out := struct {
				*loadgen.Result
				Concurrency     int     `json:"concurrency"`
				CryptoBoundRate float64 `json:"cryptoBoundPerSecond,omitempty"`
				RatioToBound    float64 `json:"ratioToCryptoBound,omitempty"`
			}{Result: res, Concurrency: o.Concurrency}
			if cryptoBound {
				out.CryptoBoundRate = loadgen.CryptoBound(3 * time.Second)
				out.RatioToBound = res.Throughput / out.CryptoBoundRate
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			fmt.Fprintf(w, "requests %d, errors %d in %.1fs (concurrency %d)\n", res.Requests, res.Errors, res.Seconds, o.Concurrency)
			fmt.Fprintf(w, "throughput %.1f/s\nlatency p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms\n", res.Throughput, res.P50Millis, res.P95Millis, res.P99Millis, res.MaxMillis)
			for code, n := range res.ErrorCodes {
				fmt.Fprintf(w, "error %s: %d\n", code, n)
			}
			if cryptoBound {
				fmt.Fprintf(w, "crypto bound %.1f/s (2x ECDSA-P256 verify + 1x RS256 sign, all CPUs); ratio %.2f\n", out.CryptoBoundRate, out.RatioToBound)
			}
			return nil
		},
	}
	f := attest.Flags()
	f.StringVar(&o.Endpoint, "endpoint", "", "endpoint base URL, e.g. https://localhost:8443")
	f.StringVar(&evidence, "evidence", "", "evidence file (raw, hex, base64 or base64url): SGX quote or OE report")
	f.StringVar(&runtime, "runtime-data", "", "runtime data file, sent as Binary")
	f.StringVar(&typ, "type", "openenclave", "sgx or openenclave")
	f.IntVar(&o.Concurrency, "concurrency", 4, "concurrent requests")
	f.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to drive load")
	f.Float64Var(&o.Rate, "rate", 0, "cap the offered load at this many requests per second (0: as fast as possible)")
	f.StringVar(&o.APIVersion, "api-version", "2022-08-01", "api-version to send")
	f.BoolVar(&o.Insecure, "insecure", false, "skip TLS certificate verification (self-signed dev servers)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&cryptoBound, "crypto-bound", false, "also measure this machine's crypto-bound attestation rate and the ratio")
	_ = attest.MarkFlagRequired("endpoint")
	_ = attest.MarkFlagRequired("evidence")
	cmd.AddCommand(attest)
	return cmd
}
