package sgx

import (
	"strconv"

	"github.com/maat-attest/maat/internal/evidence"
	"github.com/maat-attest/maat/internal/evidence/dcap"
	"github.com/maat-attest/maat/internal/maaerr"
)

// BaselineOption returns the call option enforcing the TCB baseline the
// policy's x-ms-sgx-tcbidentifier selects (decision D10): TCB Info and QE
// Identity of that tcbEvaluationDataNumber; nil for "azuredefault" or no
// selection (the collateral service's default). An unavailable baseline
// then fails verification with 400 InvalidParameter, never silently
// replaced. It returns an InvalidParameter *maaerr.Error for a value that
// is neither.
func BaselineOption(cfg evidence.Config) (CallOption, error) {
	var n int64
	switch v := cfg[PropTCBIdentifier].(type) {
	case nil:
		return nil, nil
	case int64:
		n = v
	case string:
		if v == "" || v == "azuredefault" {
			return nil, nil
		}
		p, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return nil, maaerr.New(maaerr.InvalidParameter, "The policy's %s %q is neither azuredefault nor a TCB evaluation data number.", PropTCBIdentifier, v)
		}
		n = p
	default:
		return nil, maaerr.New(maaerr.InvalidParameter, "The policy's %s must be azuredefault or a TCB evaluation data number.", PropTCBIdentifier)
	}
	if n <= 0 || n > 1<<20 {
		return nil, maaerr.New(maaerr.InvalidParameter, "The policy's %s %d is not a TCB evaluation data number.", PropTCBIdentifier, n)
	}
	return dcap.WithTCBEvaluationDataNumber(int(n)), nil
}
