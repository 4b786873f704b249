package policy

import (
	"os"
	"testing"
)

func BenchmarkParseAndEvaluate(b *testing.B) {
	doc, err := os.ReadFile("testdata/cvm-skr-policy-excerpt.json")
	if err != nil {
		b.Fatal(err)
	}
	claims := map[string]any{"x-ms-compliance-status": "azure-compliant-cvm", "x-ms-attestation-type": "sevsnpvm"}
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			if _, err := Parse(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	p, _ := Parse(doc)
	b.Run("evaluate", func(b *testing.B) {
		for b.Loop() {
			if d := p.Evaluate("https://sharedsasia.sasia.attest.azure.net", claims); !d.Release {
				b.Fatal(d.Reason)
			}
		}
	})
}
