package config

import (
	"slices"
	"strings"
	"testing"
)

func TestTDXKeys(t *testing.T) {
	c := Default()
	c.Dev = true
	if !slices.Contains(c.AcceptTDXTCBStatus, "OutOfDate") || slices.Contains(c.AcceptTDXTCBStatus, "Revoked") || c.TDXUnmatchedTCBLevel != "reject" {
		t.Errorf("defaults %v %q", c.AcceptTDXTCBStatus, c.TDXUnmatchedTCBLevel)
	}
	for key, mut := range map[string]func(*Config){
		"accept-tdx-tcb-status":   func(c *Config) { c.AcceptTDXTCBStatus = []string{"Revoked"} },
		"tdx-unmatched-tcb-level": func(c *Config) { c.TDXUnmatchedTCBLevel = "ignore" },
	} {
		bad := c
		mut(&bad)
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), key+":") {
			t.Errorf("%s: %v", key, err)
		}
	}
	good := c
	good.TDXUnmatchedTCBLevel = "out-of-date"
	if err := good.Validate(); err != nil {
		t.Error(err)
	}
}
