package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/spf13/cobra"
)

// clientEnvCACert is the environment variable read when --ca-cert is not
// given.
const clientEnvCACert = "MAAT_CA_CERT"

// Client transport defaults: a refused connection or a dead server fails
// in about a second instead of azcore's ~9 s of silent retries.
const (
	defaultClientTimeout = 60 * time.Second
	defaultClientRetries = 2
	clientRetryDelay     = 200 * time.Millisecond
	clientMaxRetryDelay  = 2 * time.Second
	clientDialTimeout    = 10 * time.Second
)

// transportFlags are the connection flags of every client command: whom to
// trust, how long to wait, how often to retry, whether to log each request.
type transportFlags struct {
	caCert  string
	timeout time.Duration
	retries int
	verbose bool

	cancel context.CancelFunc
}

func addTransportFlags(cmd *cobra.Command, t *transportFlags) {
	f := cmd.Flags()
	f.StringVar(&t.caCert, "ca-cert", "", "PEM file of CA certificate(s) trusted for the endpoint's TLS certificate, in addition to the system roots (env "+clientEnvCACert+"; for `maat serve --dev`: the dev TLS certificate it prints)")
	f.DurationVar(&t.timeout, "timeout", defaultClientTimeout, "bound on the whole command's network work, retries included")
	f.IntVar(&t.retries, "retries", defaultClientRetries, "retries of a failed request (connection errors, 408, 429, 5xx); 0 disables")
	f.BoolVar(&t.verbose, "verbose", false, "log each HTTP request and response line (and retries) to stderr")
	// The timeout bounds the command's context, which every request uses.
	prev := cmd.PreRunE
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if t.timeout <= 0 {
			return fmt.Errorf("--timeout %s: must be positive", t.timeout)
		}
		if t.retries < 0 {
			return fmt.Errorf("--retries %d: must not be negative", t.retries)
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		ctx, t.cancel = context.WithTimeout(ctx, t.timeout)
		cmd.SetContext(ctx)
		if t.verbose {
			w := cmd.ErrOrStderr()
			azlog.SetEvents(azlog.EventResponse, azlog.EventRetryPolicy)
			azlog.SetListener(func(ev azlog.Event, msg string) {
				if line := verboseLine(ev, msg); line != "" {
					fmt.Fprintln(w, "maat: "+line)
				}
			})
		}
		if prev != nil {
			return prev(cmd, args)
		}
		return nil
	}
}

// caFile returns --ca-cert, else MAAT_CA_CERT.
func (t *transportFlags) caFile() string {
	if t.caCert != "" {
		return t.caCert
	}
	return os.Getenv(clientEnvCACert)
}

// httpClient returns the HTTP client for the flags: the system roots plus
// --ca-cert, a bounded dial.
func (t *transportFlags) httpClient() (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: clientDialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if p := t.caFile(); p != "" {
		pemBytes, err := readFile(nil, p, clientMaxInput)
		if err != nil {
			return nil, fmt.Errorf("--ca-cert: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("--ca-cert %s: no PEM certificate in the file", p)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr}, nil
}

// apply sets the transport, retry policy and per-try timeout of o.
func (t *transportFlags) apply(o *policy.ClientOptions) error {
	hc, err := t.httpClient()
	if err != nil {
		return err
	}
	o.Transport = hc
	o.Retry.RetryDelay = clientRetryDelay
	o.Retry.MaxRetryDelay = clientMaxRetryDelay
	o.Retry.MaxRetries = int32(t.retries)
	if t.retries == 0 {
		o.Retry.MaxRetries = -1 // azcore: 0 means its default of 3
	}
	return nil
}

// verboseLine condenses one azcore log event to one line: "POST URL → 200
// OK (try 1, 4ms)" for a response or a transport error, "retrying in 200ms"
// for a retry; other events give "".
func verboseLine(ev azlog.Event, msg string) string {
	lines := strings.Split(msg, "\n")
	switch ev {
	case azlog.EventResponse:
		if len(lines) < 2 {
			return ""
		}
		try := ""
		if _, rest, ok := strings.Cut(lines[0], "(Try="); ok {
			try, _, _ = strings.Cut(rest, ",")
			try = strings.Replace(try, "/", ", ", 1)
		}
		req := strings.TrimSpace(lines[1])
		for i, l := range lines {
			l = strings.TrimSpace(l)
			if st, ok := strings.CutPrefix(l, "RESPONSE Status: "); ok {
				return fmt.Sprintf("%s → %s (try %s)", req, st, try)
			}
			if l == "ERROR:" && i+1 < len(lines) {
				return fmt.Sprintf("%s → error: %s (try %s)", req, strings.TrimSpace(lines[i+1]), try)
			}
		}
		return req
	case azlog.EventRetryPolicy:
		if _, d, ok := strings.Cut(msg, "Delay="); ok && strings.HasPrefix(msg, "End Try") {
			return "retrying in " + d
		}
	}
	return ""
}
