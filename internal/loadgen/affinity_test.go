package loadgen

import (
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string][]int{"1": {1}, "0,2": {0, 2}, "1-3": {1, 2, 3}, "3,0-1,1": {0, 1, 3}, " 2 ": {2}} {
		got, err := ParseCPUList(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseCPUList(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a", "-1", "3-1", "1-", "0,,1", "5000"} {
		if _, err := ParseCPUList(bad); err == nil {
			t.Errorf("ParseCPUList(%q) accepted", bad)
		}
	}
}

// allowedLists returns Cpus_allowed_list of every thread of this process.
func allowedLists(t *testing.T) []string {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	var out []string
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/status")
		if err != nil {
			continue // thread gone
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				out = append(out, strings.TrimSpace(v))
			}
		}
	}
	return out
}

func TestPinProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		if _, err := PinProcess([]int{0}); err == nil {
			t.Fatal("PinProcess succeeded off Linux")
		}
		return
	}
	before := allowedLists(t)
	procs := runtime.GOMAXPROCS(0)
	restore, err := PinProcess([]int{0})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range allowedLists(t) {
		if l != "0" {
			t.Errorf("a thread is allowed CPUs %q after pinning to 0", l)
		}
	}
	if runtime.GOMAXPROCS(0) != 1 {
		t.Errorf("GOMAXPROCS = %d after pinning to one CPU", runtime.GOMAXPROCS(0))
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if runtime.GOMAXPROCS(0) != procs {
		t.Errorf("GOMAXPROCS not restored: %d, want %d", runtime.GOMAXPROCS(0), procs)
	}
	if after := allowedLists(t); len(after) > 0 && len(before) > 0 && after[0] != before[0] {
		t.Errorf("mask not restored: %q, want %q", after[0], before[0])
	}
	if _, err := PinProcess([]int{4095}); err == nil {
		t.Error("pinning to a CPU the process may not use succeeded")
	}
}
