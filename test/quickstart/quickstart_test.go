//go:build simulator

// Package quickstart runs the Quickstart of the repository's README.md
// literally: the sh blocks under the "Quickstart" heading are extracted from
// README.md (never copied here) and run, command by command, in one shell
// against a fresh data directory, each command's result checked. A README
// that drifts from what works fails this test.
package quickstart

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// quickstartCommands returns the commands of the sh blocks in README.md's
// Quickstart section, continuation lines joined.
func quickstartCommands(t *testing.T, readme string) []string {
	t.Helper()
	start := strings.Index(readme, "\n## Quickstart\n")
	if start < 0 {
		t.Fatal(`README.md has no "## Quickstart" heading`)
	}
	section := readme[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) == 0 {
		t.Fatal("the Quickstart has no sh blocks")
	}
	var cmds []string
	for _, b := range blocks {
		cur := ""
		for _, line := range strings.Split(b[1], "\n") {
			if strings.HasSuffix(line, "\\") {
				cur += strings.TrimSuffix(line, "\\")
				continue
			}
			cur += line
			if c := strings.TrimSpace(cur); c != "" && !strings.HasPrefix(c, "#") {
				cmds = append(cmds, c)
			}
			cur = ""
		}
	}
	return cmds
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// workspace is a fresh checkout of the repository without any state: every
// top-level entry linked, except what the Quickstart creates.
func workspace(t *testing.T, root string) string {
	t.Helper()
	ws := filepath.Join(t.TempDir(), "maat")
	if err := os.Mkdir(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch e.Name() {
		case "maat-data", "token.jwt", ".git":
			continue
		}
		if err := os.Symlink(filepath.Join(root, e.Name()), filepath.Join(ws, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return ws
}

type step struct {
	cmd      string
	out      string
	code     int
	duration time.Duration
}

// check is what one README command must produce; match selects the
// commands it applies to.
type check struct {
	name  string
	match func(cmd string) bool
	ok    func(t *testing.T, s step, ws string) error
}

func prefix(p string) func(string) bool {
	return func(c string) bool { return strings.HasPrefix(c, p) }
}

func jsonOut(s step) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(s.out), &m); err != nil {
		return nil, fmt.Errorf("output is not JSON: %v", err)
	}
	return m, nil
}

func contains(parts ...string) func(*testing.T, step, string) error {
	return func(_ *testing.T, s step, _ string) error {
		for _, p := range parts {
			if !strings.Contains(s.out, p) {
				return fmt.Errorf("output lacks %q", p)
			}
		}
		return nil
	}
}

var checks = []check{
	{"install", prefix("go install"), nil},
	{"version", prefix("maat version"), contains("maat ", "with the TPM simulator")},
	{"server started", prefix("maat serve"), nil},
	{"server answers", prefix("until curl"), nil},
	{"attest OpenEnclave", prefix("maat attest openenclave"), func(_ *testing.T, s step, _ string) error {
		m, err := jsonOut(s)
		if err != nil {
			return err
		}
		exp, _ := m["exp"].(float64)
		if m["x-ms-sgx-mrsigner"] != "4aea5f9a0ed04b11f889aadfe6a1d376213a29a95a85ce7337ae6f7fece6610c" || m["x-ms-attestation-type"] != "sgx" ||
			time.Unix(int64(exp), 0).Before(time.Now()) {
			return fmt.Errorf("claims %v", m)
		}
		return nil
	}},
	{"attest SGX to token.jwt", func(c string) bool {
		return strings.HasPrefix(c, "maat attest sgx") && strings.Contains(c, "token.jwt")
	}, func(_ *testing.T, _ step, ws string) error {
		b, err := os.ReadFile(filepath.Join(ws, "token.jwt"))
		if err != nil || strings.Count(strings.TrimSpace(string(b)), ".") != 2 {
			return fmt.Errorf("token.jwt %q (%v) is not a JWS", b, err)
		}
		return nil
	}},
	{"decode", prefix("maat token decode"), func(_ *testing.T, s step, _ string) error {
		m, err := jsonOut(s)
		if err != nil {
			return err
		}
		claims, _ := m["claims"].(map[string]any)
		if claims["x-ms-sgx-mrenclave"] != "d37d983a85d63fb49649610e2eba0930ecdbff6d113aca3ff3fc7261696c0134" {
			return fmt.Errorf("decoded %v", m)
		}
		return nil
	}},
	{"verify", prefix("maat token verify"), contains(`"valid": true`)},
	{"set SGX policy", prefix("maat policy set --type SgxEnclave"), contains(`"result": "Updated"`)},
	{"policy claim in the next token", func(c string) bool { return strings.HasPrefix(c, "maat attest sgx") && strings.Contains(c, "grep") },
		contains(`"quickstart": "my first policy"`)},
	{"set TPM policy", prefix("maat policy set --type Tpm"), contains(`"result": "Updated"`)},
	{"attest TPM simulator", prefix("maat attest tpm --simulator"), contains(`"aikValidated": true`, `"x-maat-tpm-aik-root": "Maat development TPM AIK CA`, `"quickstart": "tpm"`)},
	{"stop", prefix("kill"), nil},
}

// limit bounds one command: the install compiles, the rest is quick.
func limit(cmd string) time.Duration {
	if strings.HasPrefix(cmd, "go ") {
		return 10 * time.Minute
	}
	return 2 * time.Minute
}

// outputs returns every step's output so far, for failure messages.
func outputs(dir string) string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(dir, "step*.out"))
	for _, f := range files {
		out, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(f), out)
	}
	return b.String()
}

func TestQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("the Quickstart installs the binary and runs a server; not in -short")
	}
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds := quickstartCommands(t, string(readme))
	ws := workspace(t, root)
	gopath := filepath.Join(t.TempDir(), "gopath")
	goenv := func(k string) string {
		out, err := exec.Command("go", "env", k).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	// The README's fixed ports become free ones (the only change made to
	// its commands), and the server is pointed at them by environment.
	httpPort, httpsPort := freePort(t), freePort(t)
	// A new user's environment: no MAAT_* variables (an empty one counts
	// as set), Go offline.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MAAT_") && !strings.HasPrefix(kv, "GOBIN=") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"GOPATH="+gopath, "GOMODCACHE="+goenv("GOMODCACHE"), "GOCACHE="+goenv("GOCACHE"),
		"GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly -buildvcs=false",
		"MAAT_HTTP_ADDR=127.0.0.1:"+httpPort, "MAAT_HTTPS_ADDR=127.0.0.1:"+httpsPort)

	sh := exec.Command("bash", "--norc", "--noprofile")
	sh.Dir, sh.Env = ws, env
	stdin, _ := sh.StdinPipe()
	stdout, _ := sh.StdoutPipe()
	sh.Stderr = os.Stderr
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		// The shell stops its own background server, if a step failed
		// before `kill $!`, then exits.
		fmt.Fprintln(stdin, "kill $(jobs -p) 2>/dev/null; exit")
		stdin.Close()
		done := make(chan struct{})
		go func() { sh.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			sh.Process.Kill()
		}
	}()
	fmt.Fprintln(stdin, "set -o pipefail")
	lines := bufio.NewScanner(stdout)
	logDir := t.TempDir()
	begin := time.Now()
	hit := map[string]bool{}
	var firstToken time.Duration
	for i, c := range cmds {
		run := strings.NewReplacer(":8080", ":"+httpPort, ":8443", ":"+httpsPort).Replace(c)
		outFile := filepath.Join(logDir, fmt.Sprintf("step%02d.out", i))
		t0 := time.Now()
		fmt.Fprintf(stdin, "{ %s\n} > %q 2>&1 < /dev/null; echo \"__step_done__ $?\"\n", run, outFile)
		code := -1
		got := make(chan bool, 1)
		go func() {
			for lines.Scan() {
				if rest, ok := strings.CutPrefix(lines.Text(), "__step_done__ "); ok {
					code, _ = strconv.Atoi(rest)
					got <- true
					return
				}
			}
			got <- false
		}()
		select {
		case ok := <-got:
			if !ok {
				t.Fatalf("the shell ended during %q", c)
			}
		case <-time.After(limit(c)):
			t.Fatalf("%q did not finish in %s; outputs so far:\n%s", c, limit(c), outputs(logDir))
		}
		b, _ := os.ReadFile(outFile)
		s := step{cmd: c, out: string(b), code: code, duration: time.Since(t0)}
		t.Logf("$ %s  (exit %d, %s)", c, code, s.duration.Round(time.Millisecond))
		if strings.HasSuffix(c, "&") {
			// Background: its output keeps growing; only the start is checked.
			s.code = 0
		}
		if s.code != 0 {
			t.Fatalf("README Quickstart command failed (exit %d):\n$ %s\n%s\noutputs so far:\n%s", code, c, s.out, outputs(logDir))
		}
		for _, ck := range checks {
			if !ck.match(c) {
				continue
			}
			hit[ck.name] = true
			if ck.ok != nil {
				if err := ck.ok(t, s, ws); err != nil {
					t.Fatalf("README Quickstart step %q (%s): %v\noutput:\n%s", ck.name, c, err, s.out)
				}
			}
			if ck.name == "attest OpenEnclave" && firstToken == 0 {
				firstToken = time.Since(begin)
			}
		}
	}
	for _, ck := range checks {
		if !hit[ck.name] {
			t.Errorf("the README Quickstart has no %q step", ck.name)
		}
	}
	t.Logf("Quickstart: first validated token after %s, all %d commands in %s", firstToken.Round(time.Millisecond), len(cmds), time.Since(begin).Round(time.Millisecond))
}
