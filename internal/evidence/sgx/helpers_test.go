package sgx

import "crypto/sha256"

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

func mustChain(t interface{ Fatal(...any) }, q *Quote) [][]byte {
	d, err := q.PCKChain()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
