package config

import (
	"slices"
	"strings"
	"testing"
)

func TestTDXKeys(t *testing.T) {
	c := Default()
	c.Dev = true
	if !slices.Contains(c.TDXAcceptTCB, "OutOfDate") || slices.Contains(c.TDXAcceptTCB, "Revoked") || c.TDXUnmatched != "reject" {
		t.Errorf("defaults %v %q", c.TDXAcceptTCB, c.TDXUnmatched)
	}
	for key, mut := range map[string]func(*Config){
		"accept-tdx-tcb-status":   func(c *Config) { c.TDXAcceptTCB = []string{"Revoked"} },
		"tdx-unmatched-tcb-level": func(c *Config) { c.TDXUnmatched = "ignore" },
	} {
		bad := c
		mut(&bad)
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), key+":") {
			t.Errorf("%s: %v", key, err)
		}
	}
	good := c
	good.TDXUnmatched = "out-of-date"
	if err := good.Validate(); err != nil {
		t.Error(err)
	}
}
