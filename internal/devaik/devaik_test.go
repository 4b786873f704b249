package devaik

import (
	"strings"
	"testing"
)

func TestRootNamesItselfDevelopment(t *testing.T) {
	c, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsCA || !strings.Contains(c.Subject.CommonName, "not a TPM manufacturer") {
		t.Fatalf("root %q (CA %v) must be a CA that says what it is", c.Subject.CommonName, c.IsCA)
	}
}
