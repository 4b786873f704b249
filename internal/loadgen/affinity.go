package loadgen

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseCPUList parses a Linux CPU list ("1", "0,2", "1-3", "0,2-3") into
// CPU numbers, sorted and without duplicates.
func ParseCPUList(s string) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("CPU list is empty: want e.g. 1 or 0,2 or 1-3")
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("CPU list %q: %q is not a CPU number or range", s, part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("CPU list %q: %q is not a range low-high", s, part)
			}
		}
		if b >= 4096 {
			return nil, fmt.Errorf("CPU list %q: CPU %d is out of range", s, b)
		}
		for c := a; c <= b; c++ {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}
