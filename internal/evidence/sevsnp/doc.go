// Package sevsnp verifies AMD SEV-SNP attestation reports and the SevSnpVm
// evidence of MAA's API, in pure Go, and produces MAA's claims.
//
// The steps are separate, as elsewhere in Maat:
//
//   - parse: DecodeEvidence (the "report" JSON {"SnpReport", "VcekCertChain",
//     "Endorsements"}), ParseReport (the 1184-byte ATTESTATION_REPORT,
//     versions 1 to 5), ParseChain, ParseLeafExtensions, ParseEndorsement;
//     structure only, input copied and bounded;
//   - verify: Verifier.VerifyReport (product, chain, TCB, signature, CRL) and
//     VerifyEndorsement (UVM endorsements);
//   - claims: Result.Claims (MAA's x-ms-sevsnpvm-* and Maat's
//     x-maat-sevsnpvm-*); Verifier.Verify adapts all of it to
//     evidence.Verifier and applies the minimum TCB before the policy.
//
// # Verification algorithm
//
//  1. The report must be exactly 1184 bytes, VERSION 1-5, SIGNATURE_ALGO 1
//     (ECDSA P-384/SHA-384), SIGNING_KEY 0 (VCEK) or 1 (VLEK). SIGNING_KEY 7
//     ("none", an unsigned report) is refused.
//  2. Product: from CPUID_FAM_ID/CPUID_MOD_ID for v3+ reports (family 0x19
//     models 0x0-0xF Milan, 0x10-0x1F and 0xA0-0xAF Genoa; family 0x1A
//     Turin); for v1/v2, which carry no CPUID, from the chain (the
//     intermediate's CN SEV-<product>, the leaf's issuer, or its product-name
//     extension). A chain for another product than the CPUID names is refused.
//  3. Chain: the certificates of VcekCertChain are assigned roles by CN, in
//     any order. The root is always the embedded ARK of the product (pinned
//     by SHA-256 fingerprint); a supplied ARK must be byte-identical to it. A
//     supplied ASK (ASVK for VLEKs) must be signed by that ARK; when absent
//     the embedded one is used. The leaf must be signed by the intermediate
//     with RSASSA-PSS SHA-384, carry an ECDSA P-384 key, and every
//     certificate must be valid at the verification time. A chain verified
//     once is cached by the SHA-256 of its bytes, so warm verification costs
//     one ECDSA verify. When the evidence carries no VCEK, the configured
//     Collateral (internal/collateral/amd: a disk cache, AMD KDS, Azure THIM
//     or a directory) supplies it by (product, CHIP_ID, REPORTED_TCB).
//  4. VCEK extensions (1.3.6.1.4.1.3704.1.*), decoded as DER INTEGERs: blSPL,
//     teeSPL, snpSPL, ucodeSPL and on Turin fmcSPL must equal REPORTED_TCB
//     decomposed by the product's layout (Milan/Genoa: BL byte 0, TEE 1, SNP
//     6, UCODE 7; Turin: FMC 0, BL 1, TEE 2, SNP 3, UCODE 7). The hwID must
//     equal CHIP_ID (Turin: 8 bytes against CHIP_ID[0:8]) unless MASK_CHIP_ID
//     is set; VLEKs have no hwID. The product-name extension must name the
//     detected product.
//  5. The report signature: ECDSA P-384 over SHA-384 of bytes [0, 0x2A0),
//     R and S stored little-endian.
//  6. CRL (mode off|soft|hard, soft by default): the ARK-signed CRL of the
//     product must not list the ASK/ASVK. Soft fails open when the CRL
//     cannot be had and closed when the key is revoked; the claim
//     x-maat-sevsnpvm-crl says checked, unavailable or off.
//  7. Minimum TCB per product (Options.MinimumTCB), component-wise against
//     REPORTED_TCB: below it the evidence is refused with InvalidParameter
//     before the policy, unless AllowBelowMinimum (then the policy sees
//     x-maat-sevsnpvm-tcb-status BelowMinimum).
//  8. UVM endorsements (Endorsements.Uvm, COSE_Sign1) count only when their
//     issuer (did:x509) and feed are configured: the x5chain must satisfy the
//     DID, the signature must verify with the x5chain leaf, and the endorsed
//     launch measurement must equal MEASUREMENT. Endorsements from other
//     issuers are ignored; a forged one from a configured issuer is refused.
//
// # Claims
//
// MAA's 17 x-ms-sevsnpvm-* claims, with MAA's spelling (familyId, imageId),
// SVNs taken from REPORTED_TCB (not CURRENT_TCB, as MAA does: checked on a
// real 2025 MAA token), and x-ms-attestation-type "sevsnpvm". CHIP_ID is
// never emitted: it identifies the machine. x-ms-compliance-status is MAA's
// own judgement and cannot be reproduced: Maat emits it only when configured
// reference values match (azure-compliant-uvm for an endorsement from an
// issuer configured as granting it, azure-compliant-cvm for configured
// ID-key digests, minimum TCB and guest SVN); otherwise it is absent.
//
// Maat's extras: x-maat-sevsnpvm-product, -signing-key, -report-version,
// -current-tcb, -committed-tcb, -launch-tcb, -reported-tcb (the 8
// TCB_VERSION bytes in report order, as hex), -fmc-svn (Turin), -tcb-status
// (UpToDate, BelowMinimum or NoMinimum), -minimum-tcb, -crl and -vcek-source
// (evidence or collateral).
//
// # Configuration (maat serve)
//
// sevsnp-crl (off|soft|hard), sevsnp-minimum-tcb (per product,
// "Milan:bl=3:tee=0:snp=8:ucode=115"), sevsnp-allow-below-minimum,
// sevsnp-uvm-issuer ("<did:x509>|<feed>[|compliant]"),
// sevsnp-compliant-idkeydigest, and for internal/collateral/amd
// sevsnp-fetch, sevsnp-kds-url, sevsnp-thim-url and collateral-dir/snp.
//
// # Decisions
//
//   - Request decoding is lenient about encodings and member-name case but
//     refuses a member given twice: two SnpReports would let a proxy and the
//     verifier see different evidence.
//   - Endorsements are parsed only when UVM issuers are configured; from
//     other issuers they are ignored (no claim), so an unconfigured
//     instance behaves as if none were sent.
//   - Product detection prefers CPUID; a chain that names another product
//     is refused rather than trusted, and for v1/v2 reports the chain's CN
//     (or the VCEK's product name) decides, always under the pinned ARK.
//   - TCB values in x-maat-sevsnpvm-*-tcb are the report's 8 bytes in order
//     (the form AMD tools and the vectors print), not a u64 rendered in hex.
//   - Runtime data binds to report_data[0:32]; report_data[32:64] is not
//     required to be zero (as for SGX). Init-time data binds to HOST_DATA.
//
// Not done: the raw HCLA variant of the report member (contract §3.1 b).
package sevsnp
