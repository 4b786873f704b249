package cli

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// readFile reads the file name ("-" reads stdin) and fails when it holds
// more than limit bytes, so no command reads unbounded input.
func readFile(stdin io.Reader, name string, limit int64) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		if stdin == nil {
			return nil, errors.New("reading standard input is not supported here")
		}
		r = stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than the limit of %d bytes", name, limit)
	}
	return b, nil
}

// decodeText returns b decoded when it is (white space aside) hex, base64url
// or base64 text, as evidence files usually are; otherwise b unchanged (raw
// bytes). Hex wins when ambiguous.
func decodeText(b []byte) []byte {
	t := strings.Join(strings.Fields(string(b)), "")
	if t == "" {
		return b
	}
	isSet := func(s, extra string) bool {
		for _, c := range s {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune(extra, c)) {
				return false
			}
		}
		return true
	}
	if len(t)%2 == 0 && strings.Trim(t, "0123456789abcdefABCDEF") == "" {
		if d, err := hex.DecodeString(t); err == nil {
			return d
		}
	}
	u := strings.TrimRight(t, "=")
	if isSet(u, "-_") {
		if d, err := base64.RawURLEncoding.DecodeString(u); err == nil {
			return d
		}
	}
	if isSet(u, "+/") {
		if d, err := base64.RawStdEncoding.DecodeString(u); err == nil {
			return d
		}
	}
	return b
}
