package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/maat-attest/maat/internal/policy"
	"github.com/maat-attest/maat/sdk/azattest"
)

// TestConcurrentAttestationWhilePolicyChanges runs SGX and OpenEnclave
// attestations in parallel while another goroutine keeps replacing the
// SgxEnclave policy (permitPolicy, permitPolicy2, reset to the default).
// Every SGX token must carry the hash of one of those three policies, with
// the issued claims of that same policy (never a mix of two versions);
// every OpenEnclave token the OpenEnclave default's; no request may fail.
func TestConcurrentAttestationWhilePolicyChanges(t *testing.T) {
	ev := loadMAAEvidence(t)
	dir := t.TempDir()
	r := start(t, contractConfig(dir))
	c := sdkClient(t, r, dir)
	admin := sdkAdmin(t, r, dir, testBearer)
	ctx := context.Background()

	// which-policy claim each policy issues, by its hash ("" = none).
	sgxPolicies := map[string]string{
		defaultPolicyHash(t, "SgxEnclave"): "",
		policy.Hash(permitPolicy):          "one",
		policy.Hash(permitPolicy2):         "two",
	}
	oeDefault := defaultPolicyHash(t, "OpenEnclave")

	const workers, perWorker, minChanges = 4, 8, 4
	var (
		stop    = make(chan struct{})
		setterW sync.WaitGroup
		changes atomic.Int64
		setErr  error
	)
	setterW.Add(1)
	go func() {
		defer setterW.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var err error
			switch i % 3 {
			case 0:
				_, err = admin.SetPolicy(ctx, azattest.AttestationTypeSGXEnclave, permitPolicy, nil)
			case 1:
				_, err = admin.SetPolicy(ctx, azattest.AttestationTypeSGXEnclave, permitPolicy2, nil)
			case 2:
				_, err = admin.ResetPolicy(ctx, azattest.AttestationTypeSGXEnclave, nil)
			}
			if err != nil {
				setErr = fmt.Errorf("policy change %d: %w", i, err)
				return
			}
			changes.Add(1)
		}
	}()

	type outcome struct {
		oe    bool
		res   azattest.AttestationResult
		err   error
		which int
	}
	var (
		mu      sync.Mutex
		results []outcome
		wg      sync.WaitGroup
	)
	data := &azattest.AttestationData{Data: ev.runtime, DataType: azattest.DataTypeBinary}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// At least perWorker each, and on until the setter has
			// changed the policy a few times (bounded).
			for i := 0; i < perWorker || (changes.Load() < minChanges && i < 6*perWorker); i++ {
				o := outcome{oe: (w+i)%4 == 3, which: w*1000 + i}
				if o.oe {
					var res azattest.AttestOpenEnclaveResponse
					res, o.err = c.AttestOpenEnclave(ctx, ev.report, &azattest.AttestOpenEnclaveOptions{RuntimeData: data})
					o.res = res.AttestationResult
				} else {
					var res azattest.AttestSGXEnclaveResponse
					res, o.err = c.AttestSGXEnclave(ctx, ev.quote, &azattest.AttestSGXEnclaveOptions{RuntimeData: data})
					o.res = res.AttestationResult
				}
				mu.Lock()
				results = append(results, o)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	setterW.Wait()
	if setErr != nil {
		t.Fatalf("policy setter: %v", setErr)
	}

	seen := map[string]int{}
	for _, o := range results {
		if o.err != nil {
			var re *azcore.ResponseError
			if errors.As(o.err, &re) && re.StatusCode >= 500 {
				t.Fatalf("attestation %d answered %d %s under concurrent policy changes: %v", o.which, re.StatusCode, re.ErrorCode, o.err)
			}
			t.Fatalf("attestation %d failed: %v", o.which, o.err)
		}
		if o.res.PolicyHash == nil {
			t.Fatalf("attestation %d: token without x-ms-policy-hash", o.which)
		}
		h := *o.res.PolicyHash
		which, _ := o.res.RawClaims["which-policy"].(string)
		policyWhich, _ := o.res.PolicyClaims["which-policy"].(string)
		if o.oe {
			if h != oeDefault || which != "" {
				t.Fatalf("OpenEnclave attestation %d: x-ms-policy-hash %s (which-policy %q), want the untouched OpenEnclave default %s", o.which, h, which, oeDefault)
			}
			continue
		}
		want, ok := sgxPolicies[h]
		if !ok {
			t.Fatalf("SGX attestation %d: x-ms-policy-hash %s is not the hash of any policy that was in force", o.which, h)
		}
		if which != want || policyWhich != want {
			t.Fatalf("SGX attestation %d: hash %s is policy %q but the token issued which-policy %q (x-ms-policy %q)", o.which, h, want, which, policyWhich)
		}
		seen[want]++
	}
	if changes.Load() < minChanges {
		t.Fatalf("only %d policy changes happened during the attestations; the test proves nothing", changes.Load())
	}
	t.Logf("%d policy changes during %d attestations; SGX tokens by policy: %v", changes.Load(), len(results), seen)
}
