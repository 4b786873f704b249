package sgx_test

import (
	"context"
	"fmt"
	"github.com/maat-attest/maat/internal/testsupport/sgxvectors"
	"time"

	"github.com/maat-attest/maat/internal/collateral"
	"github.com/maat-attest/maat/internal/evidence/sgx"
)

// Verify a quote with collateral from a bundle directory, cached, at a
// pinned time.
func ExampleVerifier_Verify() {
	at := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	opts := sgx.DefaultOptions()
	opts.Now = func() time.Time { return at }
	opts.Collateral = collateral.NewCache(collateral.Dir{FS: sgxvectors.MustFS("dcapqvl")}, collateral.CacheOptions{Now: opts.Now})
	v, err := sgx.NewVerifier(opts)
	if err != nil {
		panic(err)
	}
	quote := sgxvectors.MustRead("dcapqvl", "sgx_quote.bin")
	res, err := v.Verify(context.Background(), quote)
	if err != nil {
		fmt.Println("not verified:", err)
		return
	}
	fmt.Println(res.TCBStatus, res.AdvisoryIDs, res.Root)
	fmt.Println(res.Claims()[sgx.ClaimMREnclave])
	// Output:
	// ConfigurationAndSWHardeningNeeded [INTEL-SA-00289 INTEL-SA-00615] Intel SGX Root CA
	// 33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb
}
