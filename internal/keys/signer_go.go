//go:build !openssl || !cgo

package keys

import "fmt"

const opensslCompiledIn = false

func newOpenSSLBackend() (Backend, error) {
	return nil, fmt.Errorf("%w: the OpenSSL signer is not compiled in (build with CGO_ENABLED=1 -tags openssl and libcrypto 3)", ErrBackendUnavailable)
}
