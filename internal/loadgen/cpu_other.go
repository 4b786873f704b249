//go:build !unix

package loadgen

import "time"

// processCPU is unknown on this platform: CryptoFloor then reports no
// per-CPU-second rate.
func processCPU() time.Duration { return 0 }
