package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/maat-attest/maat/internal/store"
)

func testReleaseKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	rk, ok := s.(store.ReleaseKeys)
	if !ok {
		t.Fatalf("%T does not implement store.ReleaseKeys", s)
	}
	mustInstance(t, s, "a", store.ModeAAD)
	mustInstance(t, s, "b", store.ModeAAD)
	gen0, _ := s.Generation(ctx, "a")
	k := store.ReleaseKey{InstanceID: "a", Name: "db-key", KeyType: "oct-256", Key: []byte{0, 1, 2, 0xff}, ReleasePolicy: `{"version":"1.0.0"}`}
	if err := rk.CreateReleaseKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if gen1, _ := s.Generation(ctx, "a"); gen1 <= gen0 {
		t.Errorf("generation did not move on create: %d → %d", gen0, gen1)
	}
	if err := rk.CreateReleaseKey(ctx, k); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate name: %v, want ErrConflict", err)
	}
	other := k
	other.InstanceID, other.Key = "b", []byte("other")
	if err := rk.CreateReleaseKey(ctx, other); err != nil {
		t.Fatalf("same name in another instance: %v", err)
	}
	if err := rk.CreateReleaseKey(ctx, store.ReleaseKey{InstanceID: "missing", Name: "x", KeyType: "oct-256", Key: []byte{1}, ReleasePolicy: "{}"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown instance: %v, want ErrNotFound", err)
	}
	got, err := rk.GetReleaseKey(ctx, "a", "db-key")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != k.Name || got.KeyType != k.KeyType || !bytes.Equal(got.Key, k.Key) || got.ReleasePolicy != k.ReleasePolicy || got.CreatedAt.IsZero() || got.InstanceID != "a" {
		t.Fatalf("GetReleaseKey = %+v", got)
	}
	if err := rk.CreateReleaseKey(ctx, store.ReleaseKey{InstanceID: "a", Name: "api-key", KeyType: "RSA-2048", Key: []byte{9}, ReleasePolicy: "{}"}); err != nil {
		t.Fatal(err)
	}
	list, err := rk.ListReleaseKeys(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "api-key" || list[1].Name != "db-key" {
		t.Fatalf("ListReleaseKeys = %+v, want api-key, db-key", list)
	}
	if _, err := rk.GetReleaseKey(ctx, "a", "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetReleaseKey(missing) = %v", err)
	}
	if err := rk.DeleteReleaseKey(ctx, "a", "db-key"); err != nil {
		t.Fatal(err)
	}
	if err := rk.DeleteReleaseKey(ctx, "a", "db-key"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete = %v, want ErrNotFound", err)
	}
	if _, err := rk.GetReleaseKey(ctx, "b", "db-key"); err != nil {
		t.Fatalf("delete in a removed b's key: %v", err)
	}
	if list, _ := rk.ListReleaseKeys(ctx, "empty"); len(list) != 0 {
		t.Fatalf("unknown instance lists %d keys", len(list))
	}
}
