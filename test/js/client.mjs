// Drives a Maat server with the official MAA JavaScript client
// (@azure/attestation) and prints what the client saw as one JSON object,
// so Go tests can compare it with what they see themselves.
//
// Usage: node client.mjs <operation> <endpoint> [job.json]
//   metadata   getOpenIdMetadata() and getAttestationSigners()
//   run        runs the steps of job.json in order (see below) and prints
//              {"results": [...]}, one entry per step: {"ok": true, ...} or
//              {"ok": false, "error": {...}}. A failing step does not stop
//              the run.
//
// job.json:
//   {
//     "issuer": "https://localhost:PORT",  // expected token issuer (validateIssuer)
//     "clockOffsetMs": -46000000000,        // optional: server clock minus real clock (see shiftClock)
//     "keys": {"name": {"key": PEM, "cert": PEM}},  // signing keys steps refer to
//     "steps": [
//       {"op": "attestSgxEnclave" | "attestOpenEnclave", "evidence": b64,
//        "runtimeData": b64, "runtimeJson": bool, "draftPolicy": text},
//       {"op": "getPolicy", "type": "SgxEnclave"},
//       {"op": "setPolicy", "type": ..., "policy": text, "key": name?},
//       {"op": "resetPolicy", "type": ..., "key": name?},
//       {"op": "getCerts"},
//       {"op": "addCert" | "removeCert", "cert": name, "key": name}
//     ]
//   }
//   Any step may also have "defaultValidation": true (validate with the
//   client's default options instead of everything-on plus issuer) and
//   "bearer": token (management steps use this bearer token instead).
// Management calls authenticate with a bearer token from $MAAT_BEARER.
//
// TLS: point NODE_EXTRA_CA_CERTS at the server's certificate.
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import pkg from "@azure/attestation";
const { AttestationClient, AttestationAdministrationClient, createAttestationPolicyToken } = pkg;

const [op, endpoint, jobFile] = process.argv.slice(2);
if (!op || !endpoint) {
  console.error("usage: node client.mjs <operation> <endpoint> [job.json]");
  process.exit(2);
}

// shiftClock makes the client's clock (Date, which the client's exp/nbf
// checks use) run offset milliseconds ahead of the real one: a development
// server started with --dev-time issues tokens in its own time, and the
// client has to share that time for its expiry checks to be meaningful
// rather than switched off.
function shiftClock(offset) {
  const RealDate = Date;
  class PinnedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + offset);
      else super(...args);
    }
    static now() {
      return RealDate.now() + offset;
    }
  }
  globalThis.Date = PinnedDate;
}

async function metadata() {
  const client = new AttestationClient(endpoint);
  const openId = await client.getOpenIdMetadata();
  const signers = await client.getAttestationSigners();
  return {
    openId,
    signers: signers.map((s) => ({ keyId: s.keyId, certificates: s.certificates })),
  };
}

const b64 = (u8) => (u8 === undefined || u8 === null ? null : Buffer.from(u8).toString("base64"));
const sha256b64 = (s) => createHash("sha256").update(s).digest("base64");

// validation returns the client's own validation options (everything on,
// issuer included) and a record of the signer its callback was given.
function validation(issuer) {
  const seen = { called: false, signerKeyId: null, signerCert: null };
  const options = {
    validateToken: true,
    validateExpirationTime: true,
    validateNotBeforeTime: true,
    validateIssuer: true,
    expectedIssuer: issuer,
    timeValidationSlack: 5,
    validateAttestationToken: (token, signer) => {
      seen.called = true;
      if (signer) {
        seen.signerKeyId = signer.keyId ?? null;
        seen.signerCert = signer.certificates?.[0] ?? null;
      }
      return undefined;
    },
  };
  return { options, seen };
}

function describeError(e) {
  return {
    name: e?.name,
    message: e?.message,
    statusCode: e?.statusCode ?? null,
    code: e?.code ?? null,
    body: e?.response?.bodyAsText ?? null,
  };
}

function tokenParts(token) {
  const raw = token.serialize();
  const [h, p] = raw.split(".");
  return {
    raw,
    header: JSON.parse(Buffer.from(h, "base64url").toString("utf8")),
    claims: JSON.parse(Buffer.from(p, "base64url").toString("utf8")),
  };
}

async function run() {
  const job = JSON.parse(readFileSync(jobFile, "utf8"));
  if (job.clockOffsetMs) shiftClock(job.clockOffsetMs);
  const credential = (token) => ({
    getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3600e3 }),
  });
  // Records the body of every management request as the client sent it.
  let sentBody = null;
  const capture = {
    position: "perCall",
    policy: {
      name: "maatCaptureBody",
      sendRequest: async (req, next) => {
        if (typeof req.body === "string") sentBody = req.body;
        return next(req);
      },
    },
  };
  const newAdmin = (token) =>
    new AttestationAdministrationClient(endpoint, credential(token), { additionalPolicies: [capture] });
  const client = new AttestationClient(endpoint);
  const defaultAdmin = newAdmin(process.env.MAAT_BEARER ?? "");
  let admin = defaultAdmin;
  const keys = job.keys ?? {};
  const keyOf = (name) => {
    if (!name) return {};
    const k = keys[name];
    if (!k) throw new Error(`job names unknown key ${name}`);
    return { privateKey: k.key, certificate: k.cert };
  };

  const steps = {
    async attestSgxEnclave(s, v) {
      return attest(client.attestSgxEnclave.bind(client), s, v);
    },
    async attestOpenEnclave(s, v) {
      return attest(client.attestOpenEnclave.bind(client), s, v);
    },
    async getPolicy(s, v) {
      const res = await admin.getPolicy(s.type, { validationOptions: v.options });
      return { policy: res.body, token: tokenParts(res.token) };
    },
    async setPolicy(s, v) {
      const k = keyOf(s.key);
      sentBody = null;
      const res = await admin.setPolicy(s.type, s.policy, { ...k, validationOptions: v.options });
      // The policy JWS as the client's createAttestationPolicyToken builds
      // it; for RS256 (deterministic) it must be exactly what was sent.
      const created = createAttestationPolicyToken(s.policy, k.privateKey, k.certificate).serialize();
      return {
        policyResolution: res.body.policyResolution,
        policyTokenHash: b64(res.body.policyTokenHash),
        expectedTokenHash: sentBody === null ? null : sha256b64(sentBody),
        sentIsCreated: sentBody === created,
        sentAlg: sentBody === null ? null : JSON.parse(Buffer.from(sentBody.split(".")[0], "base64url")).alg,
        policySigner: res.body.policySigner ?? null,
        token: tokenParts(res.token),
      };
    },
    async resetPolicy(s, v) {
      const res = await admin.resetPolicy(s.type, { ...keyOf(s.key), validationOptions: v.options });
      return { policyResolution: res.body.policyResolution, token: tokenParts(res.token) };
    },
    async getCerts(s, v) {
      const res = await admin.getPolicyManagementCertificates({ validationOptions: v.options });
      return { certificates: res.body.map((c) => c.certificates), token: tokenParts(res.token) };
    },
    async addCert(s, v) {
      const k = keyOf(s.key);
      const res = await admin.addPolicyManagementCertificate(keys[s.cert].cert, k.privateKey, k.certificate, {
        validationOptions: v.options,
      });
      return { thumbprint: res.body.certificateThumbprint, certResult: res.body.certificateResolution, token: tokenParts(res.token) };
    },
    async removeCert(s, v) {
      const k = keyOf(s.key);
      const res = await admin.removePolicyManagementCertificate(keys[s.cert].cert, k.privateKey, k.certificate, {
        validationOptions: v.options,
      });
      return { thumbprint: res.body.certificateThumbprint, certResult: res.body.certificateResolution, token: tokenParts(res.token) };
    },
  };

  async function attest(fn, s, v) {
    const opts = { validationOptions: v.options };
    if (s.runtimeData !== undefined) {
      const data = Buffer.from(s.runtimeData, "base64");
      if (s.runtimeJson) opts.runTimeJson = data;
      else opts.runTimeData = data;
    }
    if (s.draftPolicy !== undefined) opts.draftPolicyForAttestation = s.draftPolicy;
    const res = await fn(Buffer.from(s.evidence, "base64"), opts);
    const b = res.body;
    return {
      result: {
        issuer: b.issuer,
        version: b.version,
        nonce: b.nonce ?? null,
        uniqueId: b.uniqueId,
        mrEnclave: b.mrEnclave,
        mrSigner: b.mrSigner,
        isDebuggable: b.isDebuggable,
        productId: b.productId,
        svn: b.svn,
        enclaveHeldData: b64(b.enclaveHeldData),
        runTimeClaims: b.runTimeClaims ?? null,
        policyHash: b64(b.policyHash),
        verifierType: b.verifierType ?? null,
        policySigner: b.policySigner ? { keyId: b.policySigner.keyId ?? null, certificates: b.policySigner.certificates } : null,
      },
      token: tokenParts(res.token),
    };
  }

  const results = [];
  for (const s of job.steps) {
    const fn = steps[s.op];
    if (!fn) throw new Error(`unknown step ${s.op}`);
    const v = validation(job.issuer);
    // "defaultValidation": the client's own defaults (no validationOptions).
    if (s.defaultValidation) v.options = undefined;
    // "bearer": this step authenticates with another bearer token.
    admin = s.bearer !== undefined ? newAdmin(s.bearer) : defaultAdmin;
    try {
      const out = await fn(s, v);
      results.push({ op: s.op, ok: true, validation: v.seen, ...out });
    } catch (e) {
      results.push({ op: s.op, ok: false, error: describeError(e) });
    }
  }
  return { results };
}

const ops = { metadata, run };
if (!ops[op]) {
  console.error(`unknown operation ${op}`);
  process.exit(2);
}
try {
  const out = await ops[op]();
  process.stdout.write(JSON.stringify(out));
} catch (e) {
  console.error(`${op} failed: ${e.name}: ${e.message}`);
  process.exit(1);
}
