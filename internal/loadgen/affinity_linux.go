package loadgen

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// PinProcess restricts every thread of this process to cpus (threads
// created later inherit the mask) and sets GOMAXPROCS to their number, so a
// load driver can leave the other cores to the server it measures. restore
// puts back the previous mask and GOMAXPROCS.
func PinProcess(cpus []int) (restore func() error, err error) {
	if len(cpus) == 0 {
		return nil, fmt.Errorf("no CPUs to pin to")
	}
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	for _, c := range cpus {
		if !old.IsSet(c) {
			return nil, fmt.Errorf("CPU %d is not available to this process (allowed: %d CPUs)", c, old.Count())
		}
		set.Set(c)
	}
	if err := setAll(&set); err != nil {
		_ = setAll(&old)
		return nil, err
	}
	procs := runtime.GOMAXPROCS(len(cpus))
	return func() error {
		runtime.GOMAXPROCS(procs)
		return setAll(&old)
	}, nil
}

// setAll applies set to every thread of the process.
func setAll(set *unix.CPUSet) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("list threads: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("sched_setaffinity thread %d: %w", tid, err)
		}
	}
	return nil
}
