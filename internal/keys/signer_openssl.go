//go:build openssl && cgo

package keys

/*
#cgo LDFLAGS: -lcrypto
#include <stdio.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

// Every entry point clears the thread's error queue first and drains it
// into errbuf before returning: the queue is per OS thread and a goroutine
// may run the next cgo call on another thread.
static void maat_err(char *errbuf, size_t n, const char *what) {
	unsigned long e = ERR_get_error();
	if (e == 0) {
		snprintf(errbuf, n, "%s failed (no OpenSSL error queued)", what);
	} else {
		char s[256];
		ERR_error_string_n(e, s, sizeof s);
		snprintf(errbuf, n, "%s: %s", what, s);
	}
	ERR_clear_error();
}

static unsigned long maat_openssl_version(void) { return OpenSSL_version_num(); }

// maat_load parses a PKCS#8 DER private key, requires RSA and that the whole
// buffer was consumed, and zeroes the buffer whatever happens.
static EVP_PKEY *maat_load(unsigned char *der, long len, char *errbuf, size_t n) {
	ERR_clear_error();
	const unsigned char *p = der;
	EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &p, len);
	long used = (long)(p - der);
	OPENSSL_cleanse(der, (size_t)len);
	if (k == NULL) {
		maat_err(errbuf, n, "d2i_AutoPrivateKey");
		return NULL;
	}
	if (used != len) {
		EVP_PKEY_free(k);
		snprintf(errbuf, n, "private key DER has %ld trailing bytes", len - used);
		return NULL;
	}
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		EVP_PKEY_free(k);
		snprintf(errbuf, n, "private key is not RSA");
		return NULL;
	}
	return k;
}

static void maat_free(EVP_PKEY *k) { EVP_PKEY_free(k); }

static int maat_size(EVP_PKEY *k) { return EVP_PKEY_get_size(k); }

// maat_ctx_pkcs1 returns a context initialised for RSASSA-PKCS1-v1_5 with
// the given digest, which maat_sign_ctx can sign with any number of times
// (as `openssl speed` does): initialising fetches the provider's algorithm,
// which costs a few percent of a signature.
static EVP_PKEY_CTX *maat_ctx_pkcs1(EVP_PKEY *k, int mdnid, char *errbuf, size_t n) {
	ERR_clear_error();
	const EVP_MD *md = EVP_get_digestbynid(mdnid);
	if (md == NULL) {
		maat_err(errbuf, n, "EVP_get_digestbynid");
		return NULL;
	}
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
	if (ctx == NULL) {
		maat_err(errbuf, n, "EVP_PKEY_CTX_new");
		return NULL;
	}
	if (EVP_PKEY_sign_init(ctx) <= 0
			|| EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0
			|| EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0) {
		maat_err(errbuf, n, "EVP_PKEY_sign_init (PKCS#1 v1.5)");
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static int maat_sign_ctx(EVP_PKEY_CTX *ctx, const unsigned char *dgst, size_t dlen,
		unsigned char *sig, size_t *siglen, char *errbuf, size_t n) {
	ERR_clear_error();
	if (EVP_PKEY_sign(ctx, sig, siglen, dgst, dlen) <= 0) {
		maat_err(errbuf, n, "EVP_PKEY_sign");
		return 0;
	}
	return 1;
}

static void maat_ctx_free(EVP_PKEY_CTX *ctx) { EVP_PKEY_CTX_free(ctx); }

// maat_sign signs a prehashed digest: RSASSA-PKCS1-v1_5 (pss == 0) or
// RSASSA-PSS with MGF1 over the same hash and the given salt length.
static int maat_sign(EVP_PKEY *k, int mdnid, int pss, int saltlen,
		const unsigned char *dgst, size_t dlen,
		unsigned char *sig, size_t *siglen, char *errbuf, size_t n) {
	ERR_clear_error();
	const EVP_MD *md = EVP_get_digestbynid(mdnid);
	if (md == NULL) {
		maat_err(errbuf, n, "EVP_get_digestbynid");
		return 0;
	}
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
	if (ctx == NULL) {
		maat_err(errbuf, n, "EVP_PKEY_CTX_new");
		return 0;
	}
	const char *step = "EVP_PKEY_sign_init";
	int ok = EVP_PKEY_sign_init(ctx) > 0;
	if (ok) {
		step = "EVP_PKEY_CTX_set_rsa_padding";
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) > 0;
	}
	if (ok) {
		step = "EVP_PKEY_CTX_set_signature_md";
		ok = EVP_PKEY_CTX_set_signature_md(ctx, md) > 0;
	}
	if (ok && pss) {
		step = "EVP_PKEY_CTX_set_rsa_pss_saltlen";
		ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, saltlen) > 0;
		if (ok) {
			step = "EVP_PKEY_CTX_set_rsa_mgf1_md";
			ok = EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0;
		}
	}
	if (ok) {
		step = "EVP_PKEY_sign";
		ok = EVP_PKEY_sign(ctx, sig, siglen, dgst, dlen) > 0;
	}
	if (!ok) {
		maat_err(errbuf, n, step);
	}
	EVP_PKEY_CTX_free(ctx);
	return ok;
}
*/
import "C"

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"unsafe"
)

const opensslCompiledIn = true

const errBufLen = 512

// OpenSSLBackend signs through libcrypto 3 (EVP_PKEY_sign on a prehashed
// digest). Built only with -tags openssl and cgo.
type OpenSSLBackend struct{}

func newOpenSSLBackend() (Backend, error) {
	v := uint64(C.maat_openssl_version())
	if v < 0x30000000 {
		return nil, fmt.Errorf("%w: libcrypto %#x is older than 3.0", ErrBackendUnavailable, v)
	}
	return OpenSSLBackend{}, nil
}

// Name returns "openssl".
func (OpenSSLBackend) Name() string { return BackendOpenSSL }

// Load hands an RSA private key to OpenSSL (as PKCS#8 DER, zeroed after
// parsing) and checks that OpenSSL's signature over a fixed digest equals
// Go's. It returns an error for a non-RSA key, a key OpenSSL rejects, or a
// failed self-test.
func (OpenSSLBackend) Load(priv crypto.Signer) (KeySigner, error) {
	rk, ok := priv.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("keys: openssl signer: %T is not an RSA private key", priv)
	}
	der, err := x509.MarshalPKCS8PrivateKey(rk)
	if err != nil {
		return nil, fmt.Errorf("keys: openssl signer: marshal key: %w", err)
	}
	s, err := loadOpenSSLDER(der, &rk.PublicKey)
	if err != nil {
		return nil, err
	}
	gs, _ := GoBackend{}.Load(rk)
	defer gs.Close()
	want, err := goSelfTestSig(gs)
	if err == nil {
		err = selfTest(s, &rk.PublicKey, want)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("keys: openssl signer: %w", err)
	}
	return s, nil
}

// loadOpenSSLDER parses der (PKCS#8) in OpenSSL. The DER is copied into C
// memory, and both copies are zeroed before it returns.
func loadOpenSSLDER(der []byte, pub *rsa.PublicKey) (*opensslSigner, error) {
	defer clear(der)
	if len(der) == 0 {
		return nil, errors.New("keys: openssl signer: empty private key")
	}
	cder := (*C.uchar)(C.CBytes(der))
	defer C.free(unsafe.Pointer(cder)) // maat_load has cleansed it
	var ebuf [errBufLen]C.char
	k := C.maat_load(cder, C.long(len(der)), &ebuf[0], errBufLen)
	if k == nil {
		return nil, fmt.Errorf("keys: openssl signer: %s", C.GoString(&ebuf[0]))
	}
	s := &opensslSigner{pkey: k, pub: pub, size: int(C.maat_size(k)), ctxs: make(chan *C.EVP_PKEY_CTX, ctxPoolSize)}
	s.refs.init()
	s.refs.free = func() {
		// No Sign is running (the count reached zero), so every pooled
		// context is in the channel.
		for {
			select {
			case ctx := <-s.ctxs:
				C.maat_ctx_free(ctx)
				continue
			default:
			}
			break
		}
		C.maat_free(s.pkey)
		s.pkey = nil
	}
	return s, nil
}

// ctxPoolSize bounds the initialised RS256 contexts kept per key: enough for
// the signs that run at once on a few cores; extra ones are freed after use.
const ctxPoolSize = 8

type opensslSigner struct {
	pkey *C.EVP_PKEY
	pub  *rsa.PublicKey
	size int
	refs refCount
	// ctxs holds initialised PKCS#1 v1.5 SHA-256 contexts (RS256, the hot
	// path); an EVP_PKEY_CTX is used by one Sign at a time.
	ctxs chan *C.EVP_PKEY_CTX
}

// signRS256 signs a SHA-256 digest with PKCS#1 v1.5 on a pooled context.
func (s *opensslSigner) signRS256(digest, sig []byte, sigLen *C.size_t, ebuf *C.char) C.int {
	var ctx *C.EVP_PKEY_CTX
	select {
	case ctx = <-s.ctxs:
	default:
		if ctx = C.maat_ctx_pkcs1(s.pkey, C.NID_sha256, ebuf, errBufLen); ctx == nil {
			return 0
		}
	}
	ok := C.maat_sign_ctx(ctx, (*C.uchar)(unsafe.Pointer(&digest[0])), C.size_t(len(digest)),
		(*C.uchar)(unsafe.Pointer(&sig[0])), sigLen, ebuf, errBufLen)
	if ok != 1 {
		C.maat_ctx_free(ctx) // its state after a failure is not worth trusting
		return ok
	}
	select {
	case s.ctxs <- ctx:
	default:
		C.maat_ctx_free(ctx)
	}
	return ok
}

func (s *opensslSigner) Public() crypto.PublicKey { return s.pub }

// Sign signs digest with OpenSSL. PKCS#1 v1.5 is deterministic, so it
// returns exactly what Go's rsa.SignPKCS1v15 would; PSS draws its salt from
// OpenSSL's RNG (rand is not used).
func (s *opensslSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := checkSignOpts(digest, opts); err != nil {
		return nil, err
	}
	var nid C.int
	switch opts.HashFunc() {
	case crypto.SHA256:
		nid = C.NID_sha256
	case crypto.SHA384:
		nid = C.NID_sha384
	case crypto.SHA512:
		nid = C.NID_sha512
	}
	pss, salt := C.int(0), C.int(0)
	if po, ok := opts.(*rsa.PSSOptions); ok {
		pss = 1
		switch {
		case po.SaltLength == rsa.PSSSaltLengthEqualsHash:
			salt = C.RSA_PSS_SALTLEN_DIGEST
		case po.SaltLength == rsa.PSSSaltLengthAuto:
			salt = C.RSA_PSS_SALTLEN_MAX // what Go's SignPSS does for Auto
		case po.SaltLength > 0:
			salt = C.int(po.SaltLength)
		default:
			return nil, fmt.Errorf("keys: sign: invalid PSS salt length %d", po.SaltLength)
		}
	}
	if !s.refs.acquire() {
		return nil, ErrSignerClosed
	}
	defer s.refs.release()
	sig := make([]byte, s.size)
	sigLen := C.size_t(len(sig))
	var ebuf [errBufLen]C.char
	var ok C.int
	if pss == 0 && nid == C.NID_sha256 {
		ok = s.signRS256(digest, sig, &sigLen, &ebuf[0])
	} else {
		ok = C.maat_sign(s.pkey, nid, pss, salt,
			(*C.uchar)(unsafe.Pointer(&digest[0])), C.size_t(len(digest)),
			(*C.uchar)(unsafe.Pointer(&sig[0])), &sigLen, &ebuf[0], errBufLen)
	}
	if ok != 1 {
		return nil, fmt.Errorf("keys: openssl sign: %s", C.GoString(&ebuf[0]))
	}
	return sig[:sigLen], nil
}

// Close releases the OpenSSL key once no Sign is running; OpenSSL clears
// the private components as it frees them.
func (s *opensslSigner) Close() error {
	s.refs.close()
	return nil
}

// signUnpooled is RS256 on a fresh context per signature (the path before
// the pool); BenchmarkOpenSSLContextPool compares the two in one loop.
func (s *opensslSigner) signUnpooled(digest []byte) ([]byte, error) {
	if !s.refs.acquire() {
		return nil, ErrSignerClosed
	}
	defer s.refs.release()
	sig := make([]byte, s.size)
	sigLen := C.size_t(len(sig))
	var ebuf [errBufLen]C.char
	if C.maat_sign(s.pkey, C.NID_sha256, 0, 0, (*C.uchar)(unsafe.Pointer(&digest[0])), C.size_t(len(digest)),
		(*C.uchar)(unsafe.Pointer(&sig[0])), &sigLen, &ebuf[0], errBufLen) != 1 {
		return nil, fmt.Errorf("keys: openssl sign: %s", C.GoString(&ebuf[0]))
	}
	return sig[:sigLen], nil
}
