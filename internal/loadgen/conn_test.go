package loadgen

import (
	"context"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// run drives hs with the kept-alive connection path (no Client) for n
// requests on one worker.
func run(t *testing.T, o Options, n int64) *Result {
	t.Helper()
	if o.Type == "" {
		o.Type = "OpenEnclave"
	}
	o.Evidence, o.Concurrency, o.Duration, o.MaxRequests = []byte("ev"), 1, 20*time.Second, n
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// One connection carries every request; the request is an ordinary POST
// net/http parses, with the body, path and headers clients send.
func TestConnKeepsAliveAndSendsAPlainPost(t *testing.T) {
	var conns atomic.Int64
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/attest/OpenEnclave" || r.URL.Query().Get("api-version") != "2022-08-01" ||
			r.Header.Get("Content-Type") != "application/json" || r.ContentLength != int64(len(b)) || !strings.Contains(string(b), `"report":"ZXY"`) {
			http.Error(w, "unexpected request "+r.Method+" "+r.URL.String()+" "+string(b), http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, `{"token":"x"}`)
	}))
	hs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	hs.Start()
	defer hs.Close()
	res := run(t, Options{Endpoint: hs.URL}, 50)
	if res.Requests != 50 || res.Errors != 0 {
		t.Fatalf("%+v", res)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 50 requests on one worker, want 1", n)
	}
}

// Over TLS, with the server's certificate trusted through RootCAs, and
// refused without it (nothing is sent to an unverified server).
func TestConnTLS(t *testing.T) {
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"token":"x"}`)
	}))
	defer hs.Close()
	roots := x509.NewCertPool()
	roots.AddCert(hs.Certificate())
	if res := run(t, Options{Endpoint: hs.URL, RootCAs: roots}, 5); res.Errors != 0 || res.Requests != 5 {
		t.Fatalf("trusted: %+v", res)
	}
	if res := run(t, Options{Endpoint: hs.URL, Insecure: true}, 5); res.Errors != 0 {
		t.Fatalf("insecure: %+v", res)
	}
	res := run(t, Options{Endpoint: hs.URL}, 2)
	if res.Errors != 2 || res.ErrorCodes["transport"] != 2 || !strings.Contains(res.FirstErrors[0], "certificate") {
		t.Fatalf("untrusted certificate: %+v", res)
	}
}

// Responses the server closes, chunks, or answers with an error envelope,
// a server that drops idle connections, and a 200 that is no token.
func TestConnResponses(t *testing.T) {
	var n atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		switch i := n.Add(1); {
		case i%4 == 0:
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, `{"token":"x"}`)
		case i%4 == 1:
			_, _ = io.WriteString(w, `{"token":`)
			w.(http.Flusher).Flush() // chunked
			_, _ = io.WriteString(w, `"`+strings.Repeat("a", 9000)+`"}`)
		case i%4 == 2:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"code":"InvalidParameter","message":"bad quote"}}`)
		default:
			_, _ = io.WriteString(w, `{"token":"x"}`)
		}
	}))
	defer hs.Close()
	res := run(t, Options{Endpoint: hs.URL}, 40)
	if res.Requests != 40 || res.Errors != 10 || res.ErrorCodes["400 InvalidParameter"] != 10 || res.FirstErrors[0] != "400 InvalidParameter: bad quote" {
		t.Fatalf("%+v", res)
	}

	// A server that closes kept-alive connections between requests: each
	// request that finds its connection gone is sent again on a new one.
	idle := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"token":"x"}`)
	}))
	idle.Config.IdleTimeout = time.Millisecond
	idle.Start()
	defer idle.Close()
	if res := run(t, Options{Endpoint: idle.URL, Rate: 50}, 10); res.Errors != 0 || res.Requests != 10 {
		t.Fatalf("idle-closing server: %+v", res)
	}

	notoken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"jwt":"x"}`)
	}))
	defer notoken.Close()
	if res := run(t, Options{Endpoint: notoken.URL}, 3); res.Errors != 3 || res.ErrorCodes["200 no token"] != 3 {
		t.Fatalf("200 without a token: %+v", res)
	}
}

// A response body over the bound is an error, not a hang or a huge read,
// and the next request gets a fresh connection.
func TestConnBoundsTheResponse(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, strings.Repeat("x", maxResponse+5000))
	}))
	defer hs.Close()
	res := run(t, Options{Endpoint: hs.URL}, 3)
	if res.Errors != 3 || res.ErrorCodes["500 "] != 3 || len(res.FirstErrors[0]) > 260 {
		t.Fatalf("%+v", res)
	}
}

// Cancelling the run unblocks a request the server never answers.
func TestConnCancel(t *testing.T) {
	block := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer hs.Close()
	defer close(block)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	t0 := time.Now()
	res, err := Run(ctx, Options{Endpoint: hs.URL, Type: "SgxEnclave", Evidence: []byte("q"), Concurrency: 2, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Fatalf("cancelled run took %v", d)
	}
	if res.Errors != 0 {
		t.Fatalf("requests cut off by the cancellation counted as errors: %+v", res)
	}
}

func TestNewTargetRefusesBadEndpoints(t *testing.T) {
	for _, e := range []string{"ftp://h/attest", "http:///attest", "://x"} {
		if _, err := newTarget(e, nil, false, nil); err == nil {
			t.Errorf("%q accepted", e)
		}
	}
	tg, err := newTarget("https://example.test/attest/SgxEnclave?api-version=1", []byte("{}"), false, nil)
	if err != nil || tg.addr != "example.test:443" || tg.tls == nil || tg.tls.ServerName != "example.test" ||
		!strings.HasPrefix(string(tg.req), "POST /attest/SgxEnclave?api-version=1 HTTP/1.1\r\nHost: example.test\r\n") ||
		!strings.HasSuffix(string(tg.req), "Content-Length: 2\r\n\r\n{}") {
		t.Fatalf("%+v %q %v", tg, tg.req, err)
	}
}

// A response cut short after its first bytes is an error, and the request
// is not sent again (the server may have acted on it); only a connection
// that ended before any byte of the answer is retried.
func TestConnDoesNotResendAfterAPartialAnswer(t *testing.T) {
	var hits atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		if hits.Add(1) == 1 {
			_, _ = io.WriteString(w, `{"token":"x"}`)
			return
		}
		c, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"token\"")
		_ = buf.Flush()
		_ = c.Close()
	}))
	defer hs.Close()
	res := run(t, Options{Endpoint: hs.URL}, 2)
	if res.Requests != 2 || res.Errors != 1 || res.ErrorCodes["transport"] != 1 || hits.Load() != 2 {
		t.Fatalf("%+v, server saw %d requests", res, hits.Load())
	}
}
