//go:build !linux

package loadgen

import "errors"

// PinProcess is supported on Linux only.
func PinProcess(cpus []int) (restore func() error, err error) {
	return nil, errors.New("pinning the driver to CPUs is supported on Linux only")
}
