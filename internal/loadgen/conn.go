package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// A worker's connection. Without Options.Client, each worker keeps one
// HTTP/1.1 connection alive and writes the same prepared request bytes on
// it, reading each response with net/http's own parser (http.ReadResponse:
// Content-Length, chunked, Connection: close). That skips what
// http.Transport does per request — a request object, header cloning, and
// two goroutines per connection handing the request and response over
// channels — which on a 2-core machine shared with the server under test
// was a quarter of a core (docs/PERFORMANCE.md). The bytes on the wire are
// an ordinary POST, the same members as before.

// requestTimeout bounds one request, as http.Client.Timeout did.
const requestTimeout = 30 * time.Second

// maxResponse bounds the response body read (a token is ~7 kB).
const maxResponse = 1 << 20

// target is the prepared request: where to dial and what to write.
type target struct {
	addr string      // host:port
	tls  *tls.Config // nil for http
	req  []byte      // request line, headers and body
}

func newTarget(rawURL string, body []byte, insecure bool, roots *x509.CertPool) (*target, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("loadgen: endpoint: %w", err)
	}
	t := &target{}
	port := u.Port()
	switch u.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
		t.tls = &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12, RootCAs: roots}
		if insecure {
			t.tls.InsecureSkipVerify = true //nolint:gosec // opt-in for self-signed dev servers
		}
	default:
		return nil, fmt.Errorf("loadgen: endpoint scheme must be http or https, not %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("loadgen: endpoint %q has no host", rawURL)
	}
	t.addr = net.JoinHostPort(u.Hostname(), port)
	var b bytes.Buffer
	b.WriteString("POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUser-Agent: maat-bench\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n")
	b.Write(body)
	t.req = b.Bytes()
	return t, nil
}

// conn is one worker's kept-alive connection (not safe for concurrent use).
type conn struct {
	t    *target
	c    net.Conn
	br   *bufio.Reader
	body bytes.Buffer
	stop func() bool // unregisters the context watch
}

func (k *conn) close() {
	if k.c != nil {
		k.stop()
		_ = k.c.Close()
		k.c = nil
	}
}

func (k *conn) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: requestTimeout}
	var c net.Conn
	var err error
	if k.t.tls != nil {
		c, err = (&tls.Dialer{NetDialer: &d, Config: k.t.tls}).DialContext(ctx, "tcp", k.t.addr)
	} else {
		c, err = d.DialContext(ctx, "tcp", k.t.addr)
	}
	if err != nil {
		return err
	}
	k.c = c
	// A cancelled run unblocks a request in flight at once.
	k.stop = context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	if k.br == nil {
		k.br = bufio.NewReaderSize(c, 16<<10)
	} else {
		k.br.Reset(c)
	}
	return nil
}

// do sends the request once and classifies the answer as the http.Client
// path does: "" on a 200 with a token, else a label and a message.
func (k *conn) do(ctx context.Context) (code, msg string) {
	for attempt := 0; ; attempt++ {
		reused := k.c != nil
		if !reused {
			if err := k.dial(ctx); err != nil {
				return "transport", err.Error()
			}
		}
		status, closeAfter, retryable, err := k.roundTrip(ctx)
		if err != nil {
			k.close()
			// A kept-alive connection the server closed while idle fails
			// before any byte of a response: send again on a new one, once.
			if reused && attempt == 0 && ctx.Err() == nil && retryable {
				continue
			}
			return "transport", err.Error()
		}
		if closeAfter {
			k.close()
		}
		return classify(status, k.body.Bytes())
	}
}

// roundTrip sends the request and reads the response into k.body.
// retryable reports a failure before any byte of a response arrived
// (nothing was written, or the connection ended at the response's first
// byte): the server cannot have answered this request.
func (k *conn) roundTrip(ctx context.Context) (status int, closeAfter, retryable bool, err error) {
	_ = k.c.SetDeadline(time.Now().Add(requestTimeout))
	// The context's watch may have fired before the line above replaced
	// its deadline: look again, now that no later watch can be lost.
	if err := ctx.Err(); err != nil {
		return 0, false, false, err
	}
	if _, err := k.c.Write(k.t.req); err != nil {
		return 0, false, isIdleClose(err), err
	}
	// The first byte tells a connection the server had closed (EOF or a
	// reset, nothing read) from a response cut short (not retried).
	if _, err := k.br.Peek(1); err != nil {
		return 0, false, isIdleClose(err), err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return 0, false, false, err
	}
	k.body.Reset()
	_, err = k.body.ReadFrom(io.LimitReader(resp.Body, maxResponse+1))
	resp.Body.Close()
	if err != nil {
		return 0, false, false, fmt.Errorf("reading the response body: %w", err)
	}
	if k.body.Len() > maxResponse {
		// The rest of the body is still on the wire: the connection
		// cannot carry another request.
		k.body.Truncate(maxResponse)
		return resp.StatusCode, true, false, nil
	}
	return resp.StatusCode, resp.Close, false, nil
}

// isIdleClose reports an error that means the server had closed the
// connection.
func isIdleClose(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
