package collateral

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Dir is a Source reading a local bundle directory with this layout:
//
//	tcb_info.json                 {"tcbInfo":…,"signature":…}  (or tcb_info_<FMSPC>.json)
//	tcb_info_issuer_chain.pem
//	qe_identity.json              {"enclaveIdentity":…,"signature":…}
//	qe_identity_issuer_chain.pem
//	pck_crl.der | pck_crl.pem     (or pck_crl_<ca>.der|.pem; DER, PEM or hex)
//	pck_crl_issuer_chain.pem      (or pck_crl_<ca>_issuer_chain.pem)
//	root_ca_crl.der | root_ca_crl.pem
//
// and, for TDX, side by side with the SGX files:
//
//	tdx_tcb_info_<FMSPC>.json     TDX TCB Info (FMSPC upper-case hex; or tdx_tcb_info.json)
//	tdx_tcb_info_issuer_chain.pem (else tcb_info_issuer_chain.pem: same signer)
//	td_qe_identity.json           TD_QE identity
//	td_qe_identity_issuer_chain.pem (else qe_identity_issuer_chain.pem)
//	pck_crl_platform.der          Platform CA CRL (pck_crl_platform_issuer_chain.pem
//	                              when available), as named above
//
// and Intel's signed lists of TCB evaluation data numbers (TCB baselines):
//
//	sgx_tcb_eval_nums.json, sgx_tcb_eval_nums_issuer_chain.pem (else tcb_info_issuer_chain.pem)
//	tdx_tcb_eval_nums.json, tdx_tcb_eval_nums_issuer_chain.pem (else tdx_tcb_info_issuer_chain.pem, tcb_info_issuer_chain.pem)
//
// A key with an evaluation data number is served only when the file's
// tcbEvaluationDataNumber is that number (NewItem checks it).
//
// A tcb_info_<FMSPC>.json file is served only for that FMSPC; a plain
// tcb_info.json is served for whatever FMSPC is asked (the verifier then
// checks the FMSPC). Dir never touches the network. Files are read on every
// Fetch; put a Cache in front to keep them.
type Dir struct {
	Path string
	// FS, when set, is read instead of the operating system's file system
	// (Path is then ignored): embedded bundles, test vectors.
	FS fs.FS
	// Now stamps FetchedAt; nil means time.Now.
	Now func() time.Time
}

var _ Source = Dir{}

// maxFileSize bounds each file read.
const maxFileSize = MaxItemSize

// Fetch reads the item for key. It returns an error wrapping ErrNotFound
// when the files are missing, ErrMalformed when they cannot be read as
// collateral.
func (d Dir) Fetch(ctx context.Context, key Key) (*Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := key.validate(); err != nil {
		return nil, err
	}
	var body, chain []byte
	var err error
	switch key.Kind {
	case KindTCBInfo:
		body, err = d.first("tcb_info_"+key.FMSPC+".json", "tcb_info.json")
		if err == nil {
			chain, err = d.first("tcb_info_issuer_chain.pem")
		}
	case KindQEIdentity:
		body, err = d.first("qe_identity.json")
		if err == nil {
			chain, err = d.first("qe_identity_issuer_chain.pem")
		}
	case KindPCKCRL:
		body, err = d.first("pck_crl_"+key.CA+".der", "pck_crl_"+key.CA+".pem", "pck_crl.der", "pck_crl.pem")
		if err == nil {
			chain, err = d.first("pck_crl_"+key.CA+"_issuer_chain.pem", "pck_crl_issuer_chain.pem")
		}
	case KindRootCACRL:
		body, err = d.first("root_ca_crl.der", "root_ca_crl.pem")
	case KindTDXTCBInfo:
		body, err = d.first("tdx_tcb_info_"+key.FMSPC+".json", "tdx_tcb_info.json")
		if err == nil {
			chain, err = d.first("tdx_tcb_info_issuer_chain.pem", "tcb_info_issuer_chain.pem")
		}
	case KindSGXTCBEvalNums:
		body, err = d.first("sgx_tcb_eval_nums.json")
		if err == nil {
			chain, err = d.first("sgx_tcb_eval_nums_issuer_chain.pem", "tcb_info_issuer_chain.pem")
		}
	case KindTDXTCBEvalNums:
		body, err = d.first("tdx_tcb_eval_nums.json")
		if err == nil {
			chain, err = d.first("tdx_tcb_eval_nums_issuer_chain.pem", "tdx_tcb_info_issuer_chain.pem", "tcb_info_issuer_chain.pem")
		}
	case KindTDQEIdentity:
		body, err = d.first("td_qe_identity.json")
		if err == nil {
			chain, err = d.first("td_qe_identity_issuer_chain.pem", "qe_identity_issuer_chain.pem")
		}
	}
	if err != nil {
		return nil, err
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	return NewItem(key, body, chain, now())
}

func (d Dir) first(names ...string) ([]byte, error) {
	for _, n := range names {
		var b []byte
		var err error
		if d.FS != nil {
			b, err = readBoundedFS(d.FS, n)
		} else {
			b, err = readBounded(filepath.Join(d.Path, n))
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return b, err
	}
	return nil, fmt.Errorf("%w: none of %v in %s", ErrNotFound, names, d.Path)
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return readAllBounded(f, path)
}

func readBoundedFS(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	return readAllBounded(f, name)
}

func readAllBounded(f io.ReadCloser, path string) ([]byte, error) {
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrMalformed, path, maxFileSize)
	}
	return b, nil
}
