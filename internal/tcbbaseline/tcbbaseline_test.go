package tcbbaseline

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/evidence/dcap"
	"github.com/maat-attest/maat/internal/maaerr"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
	"github.com/maat-attest/maat/internal/testsupport/tdxvectors"
)

var at = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

func service(t *testing.T, src collateral.Source, when time.Time, cfg map[string]any) *Service {
	v, err := dcap.NewVerifier(dcap.Options{Now: func() time.Time { return when }})
	if err != nil {
		t.Fatal(err)
	}
	return &Service{Source: src, Verifier: v, PolicyConfig: func(context.Context, evidence.Type) (map[string]any, error) { return cfg, nil }}
}

// Intel's signed lists of May 2025 (SGX and TDX: 19, 18, 17).
func TestList(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		typ evidence.Type
		src collateral.Source
		cfg map[string]any
		sel string
	}{
		{evidence.SgxEnclave, collateral.Dir{FS: sgxvectors.MustFS("pcs2025")}, nil, Default},
		{evidence.OpenEnclave, collateral.Dir{FS: sgxvectors.MustFS("pcs2025")}, map[string]any{"x-ms-sgx-tcbidentifier": "18"}, "18"},
		{evidence.TdxVm, collateral.Dir{FS: tdxvectors.MustFS("azure_dcesv5")}, map[string]any{"x-maat-tdx-tcbidentifier": int64(17)}, "17"},
	} {
		l, err := service(t, tc.src, at, tc.cfg).List(ctx, tc.typ)
		if err != nil {
			t.Fatalf("%s: %v", tc.typ, err)
		}
		if len(l.Entries) != 3 || l.Entries[0].EvalNum != 19 || l.Entries[2].Identifier != "17" || l.Selected != tc.sel {
			t.Fatalf("%s: %+v", tc.typ, l)
		}
		if l.Entries[2].ReleaseDate != time.Date(2024, 3, 13, 0, 0, 0, 0, time.UTC) || l.Entries[0].MinPSWLinux != "" {
			t.Errorf("%s: %+v", tc.typ, l.Entries[2])
		}
		for _, e := range l.Entries {
			if e.Selected != (e.Identifier == tc.sel) {
				t.Errorf("%s: %s selected %v", tc.typ, e.Identifier, e.Selected)
			}
		}
	}
	// Other types have none; an expired or forged list is refused.
	var me *maaerr.Error
	if _, err := service(t, collateral.Dir{FS: sgxvectors.MustFS("pcs2025")}, at, nil).List(ctx, evidence.Tpm); !errors.As(err, &me) || me.Code != maaerr.InvalidParameter {
		t.Errorf("Tpm: %v", err)
	}
	if _, err := service(t, collateral.Dir{FS: sgxvectors.MustFS("pcs2025")}, at.AddDate(0, 2, 0), nil).List(ctx, evidence.SgxEnclave); !errors.Is(err, dcap.ErrCollateralExpired) {
		t.Errorf("expired: %v", err)
	}
	body := bytes.Replace(sgxvectors.MustRead("pcs2025", "sgx_tcb_eval_nums.json"), []byte(`"tcbEvaluationDataNumber":18`), []byte(`"tcbEvaluationDataNumber":16`), 1)
	it, err := collateral.NewItem(collateral.Key{Kind: collateral.KindSGXTCBEvalNums}, body, sgxvectors.MustRead("pcs2025", "sgx_tcb_eval_nums_issuer_chain.pem"), at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := service(t, collateral.Static{it.Key: it}, at, nil).List(ctx, evidence.SgxEnclave); !errors.Is(err, dcap.ErrTCBInfoSignature) {
		t.Errorf("forged: %v", err)
	}
	// The SGX list is not the TDX one.
	sgxItem, _ := collateral.Dir{FS: sgxvectors.MustFS("pcs2025")}.Fetch(ctx, collateral.Key{Kind: collateral.KindSGXTCBEvalNums})
	if _, err := service(t, collateral.Static{{Kind: collateral.KindTDXTCBEvalNums}: sgxItem}, at, nil).List(ctx, evidence.TdxVm); !errors.Is(err, dcap.ErrTCBInfo) {
		t.Errorf("SGX list for TDX: %v", err)
	}
	if _, err := service(t, collateral.Static{}, at, nil).List(ctx, evidence.TdxVm); !errors.As(err, &me) || me.Code == maaerr.Internal {
		t.Errorf("missing list: %v", err)
	}
}

func TestSelected(t *testing.T) {
	for v, want := range map[any]string{"11": "11", int64(12): "12", "azuredefault": "azuredefault"} {
		if got, ok := Selected(map[string]any{"p": v}, "p"); !ok || got != want {
			t.Errorf("%v: %q", v, got)
		}
	}
	if _, ok := Selected(nil, "p"); ok {
		t.Error("absent selected")
	}
}

func TestPSWTable(t *testing.T) {
	if psw[10] != [2]string{"2.9", "2.7.101.2"} || psw[15] != [2]string{"2.17", "2.16"} || len(psw) != 6 {
		t.Error(psw)
	}
}
