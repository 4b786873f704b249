package sevsnp

import "testing"

func TestParseConfig(t *testing.T) {
	p, tcb, err := ParseMinimumTCB("Turin:fmc=1:bl=1:tee=1:snp=4:ucode=81")
	if err != nil || p != ProductTurin || tcb != (TCB{FMC: 1, Bootloader: 1, TEE: 1, SNP: 4, Microcode: 81}) {
		t.Fatalf("%v %v %v", p, tcb, err)
	}
	for _, bad := range []string{"Rome:bl=1", "Milan:fmc=1", "Milan:bl=256", "Milan:xx=1", "Milan:bl"} {
		if _, _, err := ParseMinimumTCB(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	u, err := ParseUVMIssuer("did:x509:0:sha256:I__iuL25oXEVFdTP_aBLx_eT1RPHbCQ_ECBQfYZpt9s::eku:1.3.6.1.4.1.311.76.59.1.2|ContainerPlat-AMD-UVM|compliant")
	if err != nil || u.Feed != "ContainerPlat-AMD-UVM" || !u.GrantsCompliance {
		t.Fatalf("%+v %v", u, err)
	}
	if _, err := ParseUVMIssuer("did:web:x|f"); err == nil {
		t.Error("did:web accepted")
	}
	if _, err := ParseIDKeyDigest("00"); err == nil {
		t.Error("short digest accepted")
	}
}
