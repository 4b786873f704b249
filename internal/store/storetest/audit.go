package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/maat-attest/maat/internal/store"
)

// testAudit: records come back as appended, oldest first, with increasing
// ids, and every filter selects what it names.
func testAudit(t *testing.T, s store.Store) {
	ctx := context.Background()
	al, ok := s.(store.AuditLog)
	if !ok {
		t.Fatalf("%T does not implement store.AuditLog", s)
	}
	base := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	in := []store.AuditRecord{
		{Time: base, InstanceID: "a", Operation: "policy.set", AttestationType: "SgxEnclave", CallerKind: "oidc", CallerSubject: "sub-1",
			CallerObjectID: "oid-1", RequestID: "r1", Result: "ok", Before: "", After: "hash-1"},
		{Time: base.Add(time.Second), InstanceID: "a", Operation: "policy.set", AttestationType: "SgxEnclave", CallerKind: "dev-token",
			Signer: "ABCDEF", RequestID: "r2", Result: "PolicyParsingError", Message: "bad policy", Before: "hash-1", After: "hash-1"},
		{Time: base.Add(2 * time.Second), InstanceID: "a", Operation: "certificate.add", Signer: "0123", Result: "ok", Before: "", After: "FEED"},
		{Time: base.Add(3 * time.Second), InstanceID: "b", Operation: "key.rotate", CallerKind: "local", CallerSubject: "root", Result: "ok", Before: "k1", After: "k2"},
	}
	var last int64
	for i, r := range in {
		got, err := al.AppendAudit(ctx, r)
		if err != nil {
			t.Fatalf("AppendAudit %d: %v", i, err)
		}
		if got.ID <= last {
			t.Fatalf("AppendAudit %d: id %d after %d, want increasing", i, got.ID, last)
		}
		last = got.ID
		in[i].ID = got.ID
	}
	all, err := al.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(in) {
		t.Fatalf("ListAudit: %d records, want %d", len(all), len(in))
	}
	for i := range in {
		if !all[i].Time.Equal(in[i].Time) {
			t.Fatalf("record %d time %v, want %v", i, all[i].Time, in[i].Time)
		}
		all[i].Time = in[i].Time
		if all[i] != in[i] {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, all[i], in[i])
		}
	}
	for _, tc := range []struct {
		name string
		f    store.AuditFilter
		want []int
	}{
		{"instance", store.AuditFilter{InstanceID: "b"}, []int{3}},
		{"operation", store.AuditFilter{Operation: "policy.set"}, []int{0, 1}},
		{"type", store.AuditFilter{AttestationType: "SgxEnclave", InstanceID: "a"}, []int{0, 1}},
		{"failed", store.AuditFilter{Result: "failed"}, []int{1}},
		{"ok", store.AuditFilter{Result: "ok"}, []int{0, 2, 3}},
		{"since", store.AuditFilter{Since: base.Add(2 * time.Second)}, []int{2, 3}},
		{"until", store.AuditFilter{Until: base.Add(time.Second)}, []int{0}},
		{"after id", store.AuditFilter{AfterID: in[1].ID}, []int{2, 3}},
		{"limit", store.AuditFilter{Limit: 2}, []int{0, 1}},
	} {
		got, err := al.ListAudit(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var ids []int64
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		var want []int64
		for _, i := range tc.want {
			want = append(want, in[i].ID)
		}
		if len(ids) != len(want) {
			t.Fatalf("%s: ids %v, want %v", tc.name, ids, want)
		}
		for i := range ids {
			if ids[i] != want[i] {
				t.Fatalf("%s: ids %v, want %v", tc.name, ids, want)
			}
		}
	}
}
