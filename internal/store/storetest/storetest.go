// Package storetest is the conformance suite every store.Store
// implementation must pass: call Run from the implementation's tests with a
// constructor that returns a fresh, empty store.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/maat-attest/maat/internal/store"
)

// Run runs every conformance test against stores made by newStore. Each
// subtest gets its own store; newStore should register cleanup with t.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Instances", testInstances},
		{"PolicyLifecycle", testPolicyLifecycle},
		{"PolicyOptimisticConcurrency", testPolicyConcurrency},
		{"PolicyCertificates", testPolicyCertificates},
		{"SigningKeys", testSigningKeys},
		{"OneActiveKeyUnderRace", testOneActiveKeyRace},
		{"ResealSigningKeys", testResealSigningKeys},
		{"Generation", testGeneration},
		{"UnknownInstance", testUnknownInstance},
		{"ManagementReplay", testManagementReplay},
		{"ReleaseKeys", testReleaseKeys},
		{"Audit", testAudit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			tc.fn(t, s)
		})
	}
}

func mustInstance(t *testing.T, s store.Store, id string, mode store.Mode) {
	t.Helper()
	if err := s.CreateInstance(context.Background(), store.Instance{ID: id, Issuer: "https://" + id + ".example", Mode: mode}); err != nil {
		t.Fatalf("CreateInstance(%s): %v", id, err)
	}
}

func testInstances(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	mustInstance(t, s, "a", store.ModeAAD)
	if err := s.CreateInstance(ctx, store.Instance{ID: "a", Issuer: "x", Mode: store.ModeAAD}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate CreateInstance: got %v, want ErrConflict", err)
	}
	if err := s.CreateInstance(ctx, store.Instance{ID: "bad", Issuer: "x", Mode: "Nope"}); err == nil {
		t.Fatal("CreateInstance with invalid mode succeeded")
	}
	got, err := s.GetInstance(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Issuer != "https://a.example" || got.Mode != store.ModeAAD || got.CreatedAt.IsZero() {
		t.Fatalf("GetInstance = %+v", got)
	}
	got.Issuer, got.Mode = "https://new.example", store.ModeIsolated
	if err := s.UpdateInstance(ctx, got); err != nil {
		t.Fatal(err)
	}
	got2, _ := s.GetInstance(ctx, "a")
	if got2.Issuer != "https://new.example" || got2.Mode != store.ModeIsolated {
		t.Fatalf("after UpdateInstance: %+v", got2)
	}
	if _, err := s.GetInstance(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetInstance(missing) = %v, want ErrNotFound", err)
	}
}

func testPolicyLifecycle(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustInstance(t, s, "i", store.ModeIsolated)
	if _, err := s.GetPolicy(ctx, "i", "SgxEnclave"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetPolicy before set = %v, want ErrNotFound", err)
	}
	p1, err := s.PutPolicy(ctx, store.Policy{InstanceID: "i", AttestationType: "SgxEnclave", JWS: "a.b.", Text: "t1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p1.Version != 1 {
		t.Fatalf("first version = %d, want 1", p1.Version)
	}
	signer := []byte{0x30, 0x01, 0x02}
	p2, err := s.PutPolicy(ctx, store.Policy{InstanceID: "i", AttestationType: "SgxEnclave", JWS: "c.d.e", Text: "t2", SignerCertDER: signer}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p2.Version != 2 {
		t.Fatalf("second version = %d, want 2", p2.Version)
	}
	got, err := s.GetPolicy(ctx, "i", "SgxEnclave")
	if err != nil {
		t.Fatal(err)
	}
	if got.JWS != "c.d.e" || got.Text != "t2" || !bytes.Equal(got.SignerCertDER, signer) || got.Version != 2 || got.UpdatedAt.IsZero() {
		t.Fatalf("GetPolicy = %+v", got)
	}
	// Another type is independent.
	if _, err := s.PutPolicy(ctx, store.Policy{InstanceID: "i", AttestationType: "Tpm", JWS: "x", Text: "tpm"}, 0); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListPolicies(ctx, "i")
	if err != nil || len(list) != 2 {
		t.Fatalf("ListPolicies = %v, %v", list, err)
	}
	// Delete with a stale version fails, with the right one succeeds.
	if err := s.DeletePolicy(ctx, "i", "SgxEnclave", 1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("DeletePolicy(stale) = %v, want ErrConflict", err)
	}
	if err := s.DeletePolicy(ctx, "i", "SgxEnclave", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetPolicy(ctx, "i", "SgxEnclave"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetPolicy after delete = %v", err)
	}
	// Deleting nothing at version 0 is fine; re-setting continues the sequence.
	if err := s.DeletePolicy(ctx, "i", "SgxEnclave", 0); err != nil {
		t.Fatalf("DeletePolicy(absent, 0) = %v", err)
	}
	p3, err := s.PutPolicy(ctx, store.Policy{InstanceID: "i", AttestationType: "SgxEnclave", JWS: "f", Text: "t3"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p3.Version <= 2 {
		t.Fatalf("version after delete+set = %d, want > 2 (versions never repeat)", p3.Version)
	}
}

func testPolicyConcurrency(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustInstance(t, s, "i", store.ModeAAD)
	if _, err := s.PutPolicy(ctx, store.Policy{InstanceID: "i", AttestationType: "SgxEnclave", JWS: "x", Text: "x"}, 1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutPolicy with expected 1 on empty = %v, want ErrConflict", err)
	}
	// N writers all read version 0; exactly one may win.
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.PutPolicy(ctx, store.Policy{InstanceID: "i", AttestationType: "SgxEnclave", JWS: fmt.Sprint(i), Text: fmt.Sprint(i)}, 0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, store.ErrConflict):
				conflicts++
			default:
				t.Errorf("PutPolicy: unexpected error %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || conflicts != n-1 {
		t.Fatalf("racing PutPolicy: %d wins, %d conflicts; want 1 and %d", wins, conflicts, n-1)
	}
}

func testPolicyCertificates(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustInstance(t, s, "i", store.ModeIsolated)
	certs, err := s.ListPolicyCertificates(ctx, "i")
	if err != nil || len(certs) != 0 {
		t.Fatalf("initial certificates = %v, %v", certs, err)
	}
	a := store.PolicyCertificate{InstanceID: "i", Thumbprint: "AA", DER: []byte{1}}
	b := store.PolicyCertificate{InstanceID: "i", Thumbprint: "BB", DER: []byte{2}}
	for _, c := range []store.PolicyCertificate{a, b, a} {
		if err := s.AddPolicyCertificate(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	certs, _ = s.ListPolicyCertificates(ctx, "i")
	if len(certs) != 2 || certs[0].Thumbprint != "AA" || certs[1].Thumbprint != "BB" || !bytes.Equal(certs[1].DER, []byte{2}) {
		t.Fatalf("certificates after adds = %+v", certs)
	}
	if err := s.RemovePolicyCertificate(ctx, "i", "CC"); err != nil {
		t.Fatalf("removing an absent certificate = %v, want nil", err)
	}
	if err := s.RemovePolicyCertificate(ctx, "i", "AA"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemovePolicyCertificate(ctx, "i", "BB"); !errors.Is(err, store.ErrLastCertificate) {
		t.Fatalf("removing the last certificate = %v, want ErrLastCertificate", err)
	}
	certs, _ = s.ListPolicyCertificates(ctx, "i")
	if len(certs) != 1 || certs[0].Thumbprint != "BB" {
		t.Fatalf("certificates after removes = %+v", certs)
	}
}

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustInstance(t, s, "i", store.ModeAAD)
	k1 := store.SigningKey{InstanceID: "i", KID: "k1", PrivateKey: []byte("p1"), CertDER: []byte("c1")}
	if err := s.AddSigningKey(ctx, k1, store.AddKeyOptions{Activate: true, OnlyIfNoActive: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddSigningKey(ctx, store.SigningKey{InstanceID: "i", KID: "k9", PrivateKey: []byte("p"), CertDER: []byte("c")},
		store.AddKeyOptions{Activate: true, OnlyIfNoActive: true}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second first-key = %v, want ErrConflict", err)
	}
	if err := s.AddSigningKey(ctx, k1, store.AddKeyOptions{}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate kid = %v, want ErrConflict", err)
	}
	k2 := store.SigningKey{InstanceID: "i", KID: "k2", PrivateKey: []byte("p2"), CertDER: []byte("c2")}
	if err := s.AddSigningKey(ctx, k2, store.AddKeyOptions{Activate: true}); err != nil {
		t.Fatal(err)
	}
	keys, err := s.ListSigningKeys(ctx, "i")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].KID != "k1" || keys[0].State != store.KeyPublished || keys[1].KID != "k2" || keys[1].State != store.KeyActive {
		t.Fatalf("keys after rotation = %+v", keys)
	}
	if string(keys[1].PrivateKey) != "p2" || string(keys[1].CertDER) != "c2" || keys[1].ActivatedAt.IsZero() {
		t.Fatalf("key fields not round-tripped: %+v", keys[1])
	}
	if err := s.RetireSigningKey(ctx, "i", "k2"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("retiring the active key = %v, want ErrConflict", err)
	}
	if err := s.RetireSigningKey(ctx, "i", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("retiring unknown key = %v, want ErrNotFound", err)
	}
	if err := s.RetireSigningKey(ctx, "i", "k1"); err != nil {
		t.Fatal(err)
	}
	keys, _ = s.ListSigningKeys(ctx, "i")
	if keys[0].State != store.KeyRetired || keys[0].RetiredAt.IsZero() {
		t.Fatalf("k1 after retire = %+v", keys[0])
	}
	// A non-activating add publishes without changing the active key.
	if err := s.AddSigningKey(ctx, store.SigningKey{InstanceID: "i", KID: "k3", PrivateKey: []byte("p3"), CertDER: []byte("c3")}, store.AddKeyOptions{}); err != nil {
		t.Fatal(err)
	}
	keys, _ = s.ListSigningKeys(ctx, "i")
	if keys[1].State != store.KeyActive || keys[2].State != store.KeyPublished {
		t.Fatalf("keys after plain add = %+v", keys)
	}
}

func testOneActiveKeyRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustInstance(t, s, "i", store.ModeAAD)
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.AddSigningKey(ctx, store.SigningKey{InstanceID: "i", KID: fmt.Sprintf("k%d", i), PrivateKey: []byte("p"), CertDER: []byte("c")},
				store.AddKeyOptions{Activate: true, OnlyIfNoActive: true})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("unexpected error: %v", err)
		}
	}
	keys, _ := s.ListSigningKeys(ctx, "i")
	if ok != 1 || len(keys) != 1 || keys[0].State != store.KeyActive {
		t.Fatalf("racing first keys: %d succeeded, keys %+v; want exactly one active", ok, keys)
	}
}

func testGeneration(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustInstance(t, s, "i", store.ModeIsolated)
	g0, err := s.Generation(ctx, "i")
	if err != nil {
		t.Fatal(err)
	}
	step := func(what string, fn func() error) {
		t.Helper()
		before, _ := s.Generation(ctx, "i")
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		after, _ := s.Generation(ctx, "i")
		if after <= before {
			t.Fatalf("%s did not advance the generation (%d → %d)", what, before, after)
		}
	}
	step("PutPolicy", func() error {
		_, err := s.PutPolicy(ctx, store.Policy{InstanceID: "i", AttestationType: "Tpm", JWS: "x", Text: "x"}, 0)
		return err
	})
	step("AddPolicyCertificate", func() error {
		return s.AddPolicyCertificate(ctx, store.PolicyCertificate{InstanceID: "i", Thumbprint: "A", DER: []byte{1}})
	})
	step("AddSigningKey", func() error {
		return s.AddSigningKey(ctx, store.SigningKey{InstanceID: "i", KID: "k", PrivateKey: []byte{1}, CertDER: []byte{1}}, store.AddKeyOptions{Activate: true})
	})
	step("DeletePolicy", func() error { return s.DeletePolicy(ctx, "i", "Tpm", 1) })
	g1, _ := s.Generation(ctx, "i")
	if g1 <= g0 {
		t.Fatalf("generation %d → %d", g0, g1)
	}
}

func testUnknownInstance(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Generation(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Generation(ghost) = %v", err)
	}
	if _, err := s.PutPolicy(ctx, store.Policy{InstanceID: "ghost", AttestationType: "Tpm", JWS: "x", Text: "x"}, 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PutPolicy(ghost) = %v", err)
	}
	if err := s.AddPolicyCertificate(ctx, store.PolicyCertificate{InstanceID: "ghost", Thumbprint: "A", DER: []byte{1}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("AddPolicyCertificate(ghost) = %v", err)
	}
	if err := s.AddSigningKey(ctx, store.SigningKey{InstanceID: "ghost", KID: "k", PrivateKey: []byte{1}, CertDER: []byte{1}}, store.AddKeyOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("AddSigningKey(ghost) = %v", err)
	}
}

// testResealSigningKeys: a reseal replaces the sealed bytes of several keys
// at once or of none, compares against the bytes read, and leaves states
// and the generation alone.
func testResealSigningKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustInstance(t, s, "i", store.ModeAAD)
	mustInstance(t, s, "j", store.ModeAAD)
	for _, k := range []string{"k1", "k2"} {
		if err := s.AddSigningKey(ctx, store.SigningKey{InstanceID: "i", KID: k, PrivateKey: []byte("plain-" + k), CertDER: []byte("c")}, store.AddKeyOptions{Activate: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddSigningKey(ctx, store.SigningKey{InstanceID: "j", KID: "k1", PrivateKey: []byte("plain-k1"), CertDER: []byte("c")}, store.AddKeyOptions{Activate: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.RetireSigningKey(ctx, "i", "k1"); err != nil {
		t.Fatal(err)
	}
	g0, _ := s.Generation(ctx, "i")
	privs := func(inst string) string {
		t.Helper()
		ks, err := s.ListSigningKeys(ctx, inst)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range ks {
			out = append(out, k.KID+"="+string(k.PrivateKey)+"/"+string(k.State))
		}
		return fmt.Sprint(out)
	}
	// A stale Old for one key aborts the whole change.
	err := s.ResealSigningKeys(ctx, "i", []store.KeyReseal{
		{KID: "k1", Old: []byte("plain-k1"), New: []byte("sealed-k1")},
		{KID: "k2", Old: []byte("not what is stored"), New: []byte("sealed-k2")},
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("reseal with a stale Old = %v, want ErrConflict", err)
	}
	if got, want := privs("i"), "[k1=plain-k1/retired k2=plain-k2/active]"; got != want {
		t.Fatalf("after the refused reseal: %s, want %s", got, want)
	}
	if err := s.ResealSigningKeys(ctx, "i", []store.KeyReseal{{KID: "nope", Old: []byte("x"), New: []byte("y")}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("reseal of an unknown kid = %v, want ErrNotFound", err)
	}
	if err := s.ResealSigningKeys(ctx, "ghost", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("reseal on an unknown instance = %v, want ErrNotFound", err)
	}
	if err := s.ResealSigningKeys(ctx, "i", []store.KeyReseal{
		{KID: "k1", Old: []byte("plain-k1"), New: []byte("sealed-k1")},
		{KID: "k2", Old: []byte("plain-k2"), New: []byte("sealed-k2")},
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := privs("i"), "[k1=sealed-k1/retired k2=sealed-k2/active]"; got != want {
		t.Fatalf("after the reseal: %s, want %s", got, want)
	}
	if got, want := privs("j"), "[k1=plain-k1/active]"; got != want {
		t.Fatalf("another instance's key changed: %s, want %s", got, want)
	}
	if g1, _ := s.Generation(ctx, "i"); g1 != g0 {
		t.Fatalf("reseal moved the generation %d → %d; the keys did not change", g0, g1)
	}
	// Replaying the same change finds the new bytes: a conflict, not a no-op.
	if err := s.ResealSigningKeys(ctx, "i", []store.KeyReseal{{KID: "k2", Old: []byte("plain-k2"), New: []byte("x")}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("repeated reseal = %v, want ErrConflict", err)
	}
}
