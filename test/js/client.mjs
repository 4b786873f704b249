// Drives a Maat server with the official MAA JavaScript client
// (@azure/attestation) and prints what the client saw as one JSON object,
// so Go tests can compare it with what they see themselves.
//
// Usage: node client.mjs <operation> <endpoint>
//   metadata   getOpenIdMetadata() and getAttestationSigners()
//
// TLS: point NODE_EXTRA_CA_CERTS at the server's certificate.
import pkg from "@azure/attestation";
const { AttestationClient } = pkg;

const [op, endpoint] = process.argv.slice(2);
if (!op || !endpoint) {
  console.error("usage: node client.mjs <operation> <endpoint>");
  process.exit(2);
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

const ops = { metadata };
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
