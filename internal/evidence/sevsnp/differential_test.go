package sevsnp

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/google/go-sev-guest/abi"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	sevverify "github.com/google/go-sev-guest/verify"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestDifferentialGoSevGuest runs go-sev-guest v0.15.0 as an oracle on every
// vector it supports (report v2+ from Milan or Genoa: its ReportToProto
// starts at v2 and it has no Turin layout), on the original and on mutated
// reports, and requires the same verdict and the same parsed fields.
func TestDifferentialGoSevGuest(t *testing.T) {
	n := 0
	for _, vec := range allVectors(t) {
		r, err := ParseReport(vec.report)
		if err != nil {
			t.Fatal(err)
		}
		if r.Version < 2 || vec.product == ProductTurin {
			continue
		}
		n++
		t.Run(vec.name, func(t *testing.T) {
			ch, err := ParseChain(vec.chain)
			if err != nil {
				t.Fatal(err)
			}
			roots := AMDRoots(vec.product)
			cases := []struct {
				name   string
				report []byte
			}{{"original", vec.report}}
			for _, off := range []int{0x04, 0x50, 0x90, 0xC0, 0x180, 0x186, 0x1A0, 0x29F} {
				m := bytes.Clone(vec.report)
				m[off] ^= 0x01
				cases = append(cases, struct {
					name   string
					report []byte
				}{fmt.Sprintf("flip 0x%03x", off), m})
			}
			for _, c := range cases {
				ours := func() error {
					rr, err := ParseReport(c.report)
					if err != nil {
						return err
					}
					_, err = newTestVerifier(t, vec.at, nil).VerifyReport(context.Background(), rr, vec.chain)
					return err
				}()
				theirs := func() error {
					pr, err := abi.ReportToProto(c.report)
					if err != nil {
						return err
					}
					att := &spb.Attestation{Report: pr, CertificateChain: &spb.CertificateChain{
						VcekCert: ch.Leaf.Raw, AskCert: roots.ASK.Raw, ArkCert: roots.ARK.Raw}}
					opts := &sevverify.Options{DisableCertFetching: true, Now: vec.at}
					if r.Version < 3 {
						// v2 reports do not name their product; the VCEK's
						// product name (Milan-B0) says stepping 0.
						opts.Product = &spb.SevProduct{Name: spb.SevProduct_SEV_PRODUCT_MILAN, MachineStepping: wrapperspb.UInt32(0)}
					}
					if err := sevverify.SnpAttestation(att, opts); err != nil {
						return err
					}
					return nil
				}()
				if (ours == nil) != (theirs == nil) {
					t.Errorf("%s: ours %v, go-sev-guest %v", c.name, ours, theirs)
				}
			}
			// Parsed fields agree.
			pr, err := abi.ReportToProto(vec.report)
			if err != nil {
				t.Fatal(err)
			}
			if pr.Version != r.Version || pr.GuestSvn != r.GuestSVN || pr.Policy != r.Policy || pr.Vmpl != r.VMPL ||
				!bytes.Equal(pr.Measurement, r.Measurement[:]) || !bytes.Equal(pr.ReportData, r.ReportData[:]) ||
				!bytes.Equal(pr.HostData, r.HostData[:]) || !bytes.Equal(pr.IdKeyDigest, r.IDKeyDigest[:]) ||
				!bytes.Equal(pr.ReportId, r.ReportID[:]) || !bytes.Equal(pr.ChipId, r.ChipID[:]) ||
				pr.ReportedTcb != binary.LittleEndian.Uint64(r.ReportedTCB[:]) || pr.CurrentTcb != binary.LittleEndian.Uint64(r.CurrentTCB[:]) ||
				pr.LaunchTcb != binary.LittleEndian.Uint64(r.LaunchTCB[:]) || pr.CommittedTcb != binary.LittleEndian.Uint64(r.CommittedTCB[:]) {
				t.Errorf("parsed fields differ from go-sev-guest's")
			}
		})
	}
	if n < 5 {
		t.Fatalf("only %d vectors compared", n)
	}
}
