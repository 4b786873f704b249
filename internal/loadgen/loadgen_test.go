package loadgen

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/keys"
)

func TestParseProcStat(t *testing.T) {
	// A command name with a space and a ')' in it: fields count from the
	// last ')'. utime 250 + stime 50 ticks = 3 s.
	line := "4242 (maat serve) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 8 0 100 1000000 2000 18446744073709551615\n"
	d, err := parseProcStat([]byte(line))
	if err != nil || d != 3*time.Second {
		t.Fatalf("parseProcStat = %v, %v; want 3s", d, err)
	}
	for _, bad := range []string{"", "4242 maat S 1", "4242 (maat) S 1 2 3", "4242 (maat) S 1 4242 4242 0 -1 4194560 1000 0 0 0 x 50"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Fatalf("parseProcStat(%q) succeeded", bad)
		}
	}
}

func TestProcessCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	before, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
	}
	after, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Fatalf("CPU time did not advance: %v then %v", before, after)
	}
	if _, err := ProcessCPU(-1); err == nil {
		t.Fatal("ProcessCPU(-1) succeeded")
	}
}

func TestCryptoFloors(t *testing.T) {
	fs := CryptoFloors(200 * time.Millisecond)
	if len(fs) != 2 || fs[0].Signer != keys.BackendGo || fs[1].Signer != keys.BackendOpenSSL {
		t.Fatalf("floors %+v", fs)
	}
	if fs[0].PerSecond <= 0 || fs[0].Unavailable != "" {
		t.Fatalf("go floor %+v", fs[0])
	}
	if compiled := slices.Contains(keys.SignerBackends(), keys.BackendOpenSSL); compiled != (fs[1].Unavailable == "") || compiled != (fs[1].PerSecond > 0) {
		t.Fatalf("openssl compiled in %v, floor %+v", compiled, fs[1])
	}
	if f := CryptoFloor(time.Millisecond, "boringssl"); f.Unavailable == "" {
		t.Fatal("unknown signer measured")
	}
}
