package jsonstrict

import (
	"encoding/json"
	"strings"
	"testing"
)

func benchBody(n int) []byte {
	return []byte(`{"report":"` + strings.Repeat("A", n) + `","runtimeData":{"data":"` + strings.Repeat("B", 64) + `","dataType":"Binary"},"nonce":"12345"}`)
}

func BenchmarkDecodeObject6k(b *testing.B) {
	body := benchBody(6000)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeObject(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalMap6k(b *testing.B) {
	body := benchBody(6000)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheck100k(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"events":[`)
	for i := range 1000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"pcr":7,"type":"EV_EFI_VARIABLE_DRIVER_CONFIG","digest":"0123456789abcdef0123456789abcdef","data":{"name":"SecureBoot","value":1}}`)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := Check(body, true, 64); err != nil {
			b.Fatal(err)
		}
	}
}
