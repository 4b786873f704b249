// Package attestation is Maat's attestation pipeline and policy management,
// free of HTTP types: evidence → the type's evidence.Verifier → bind
// runtime/init-time data → evaluate the instance's policy (or a draft) →
// issue the token, the same appraisal for every type; and the MAA policy and
// policy-management-certificate operations in AAD and Isolated modes. Every
// failure is a *maaerr.Error with MAA's code.
package attestation
