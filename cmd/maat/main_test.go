package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests build the real binary and run it as users do: flags, config
// files, signals, exit codes and stderr messages.

var maatBin string

// TestMain builds the binary (with the simulator when the tests are built
// with -tags simulator), or tests the one MAAT_TEST_BINARY names, e.g. a
// CGO_ENABLED=0 build (scripts/test.sh).
func TestMain(m *testing.M) {
	if bin := os.Getenv("MAAT_TEST_BINARY"); bin != "" {
		maatBin = bin
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "maat-bin")
	if err != nil {
		panic(err)
	}
	maatBin = filepath.Join(dir, "maat")
	args := append(append([]string{"build"}, buildTags...), "-o", maatBin, ".")
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(maatBin, args...)
	cmd.Env = append(os.Environ(), "MAAT_CONFIG=")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

type server struct {
	cmd    *exec.Cmd
	base   string
	stderr *syncBuffer
}

// syncBuffer is a bytes.Buffer safe to read while exec's copier writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs `maat serve` on a free port and waits for its address.
func startServe(t *testing.T, args ...string) *server {
	t.Helper()
	cmd := exec.Command(maatBin, append([]string{"serve", "--https-addr", "", "--http-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "MAAT_CONFIG=")
	stdout, _ := cmd.StdoutPipe()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addr <- a
			}
		}
	}()
	select {
	case a := <-addr:
		return &server{cmd: cmd, base: a, stderr: stderr}
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not start; stderr:\n%s", stderr.String())
	}
	return nil
}

func kids(t *testing.T, base string) []string {
	t.Helper()
	resp, err := http.Get(base + "/certs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KID)
	}
	return out
}

func TestVersion(t *testing.T) {
	out, _, code := run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "maat ") {
		t.Fatalf("version: %q exit %d", out, code)
	}
}

func TestServeRejectsBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("http-addr: 127.0.0.1:0\nlisten: everywhere\n"), 0o600)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--config", bad, "--data", dir}, `unknown key "listen"`},
		{[]string{"serve", "--mode", "shared", "--dev", "--data", dir}, "mode:"},
		{[]string{"serve", "--https-addr", "127.0.0.1:0", "--data", dir}, "tls-cert:"},
		{[]string{"serve", "--shutdown-timeout", "forever"}, "shutdown-timeout"},
		{[]string{"serve", "--no-such-flag"}, "unknown flag"},
	}
	for _, tc := range cases {
		_, stderr, code := run(t, tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "panic") {
			t.Errorf("maat %v: exit %d, stderr %q; want non-zero and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestServeLockKeysAndGracefulShutdown(t *testing.T) {
	data := t.TempDir()
	s := startServe(t, "--data", data, "--log-format", "json")
	first := kids(t, s.base)
	if len(first) != 1 {
		t.Fatalf("kids %v", first)
	}

	// A second server on the same data directory fails at once.
	_, stderr, code := run(t, "serve", "--https-addr", "", "--http-addr", "127.0.0.1:0", "--data", data)
	if code == 0 || !strings.Contains(stderr, "in use by another maat process") {
		t.Fatalf("second serve: exit %d, %q", code, stderr)
	}

	// Rotating with the CLI while the server runs: the server publishes both
	// keys within a few seconds, the new one first.
	out, stderr, code := run(t, "keys", "rotate", "--data", data)
	if code != 0 {
		t.Fatalf("keys rotate: %d %s", code, stderr)
	}
	newKID := strings.TrimSpace(strings.TrimPrefix(out, "new active key "))
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := kids(t, s.base)
		if len(got) == 2 && got[0] == newKID && got[1] == first[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server still publishes %v after rotation to %s", got, newKID)
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, _, code = run(t, "keys", "list", "--data", data, "--json")
	var rows []struct{ KID, State string }
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 2 || rows[1].State != "active" || rows[0].State != "published" {
		t.Fatalf("keys list: %d %s", code, out)
	}
	if _, stderr, code := run(t, "keys", "retire", newKID, "--data", data); code == 0 || !strings.Contains(stderr, "active") {
		t.Fatalf("retiring the active key: exit %d %q", code, stderr)
	}

	// Every log line is JSON with a request id on request lines.
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM; stderr:\n%s", err, s.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	sawRequest := false
	for _, line := range strings.Split(strings.TrimSpace(s.stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == "request" {
			sawRequest = true
			if id, _ := rec["request_id"].(string); len(id) != 32 {
				t.Fatalf("request log without request id: %q", line)
			}
		}
	}
	if !sawRequest {
		t.Fatal("no request was logged")
	}
	// After shutdown the data directory is free again.
	s2 := startServe(t, "--data", data)
	if got := kids(t, s2.base); len(got) != 2 {
		t.Fatalf("after restart: %v", got)
	}
}
