#!/usr/bin/env bash
# A/B of two maat server binaries end to end (docs/PERFORMANCE.md): both
# serve the OpenEnclave vector side by side, and this tree's `maat bench
# attest` drives them alternately ROUNDS times for DURATION each, so load
# from elsewhere on the machine hits both alike. Extra arguments go to both
# `maat serve` commands (e.g. --token-signer openssl). Prints one line per
# run: throughput, the server's CPU per attestation, p99, the driver's CPU.
#
#   scripts/bench-ab.sh ROUNDS DURATION BINARY_A BINARY_B [serve flags...]
#
# e.g. the Go build before issue 17 against this tree's:
#   git worktree add /tmp/old 0dcd51c && (cd /tmp/old && CGO_ENABLED=0 go build -o /tmp/maat-old ./cmd/maat)
#   CGO_ENABLED=0 go build -o /tmp/maat-new ./cmd/maat
#   scripts/bench-ab.sh 4 10s /tmp/maat-old /tmp/maat-new
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 4 ]; then
  sed -n '2,14p' "$0" >&2
  exit 2
fi
rounds=$1 duration=$2 a=$3 b=$4
shift 4
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/driver" ./cmd/maat
vectors=internal/testsupport/sgxvectors/data
declare -A pid port=([A]=18121 [B]=18122) bin=([A]=$a [B]=$b)
for s in A B; do
  "${bin[$s]}" serve --dev --https-addr "" --http-addr "127.0.0.1:${port[$s]}" --data "$tmp/data-$s" \
    --collateral-dir "$vectors/pcs2025" --dev-time 2025-06-01T00:00:00Z \
    --accept-tcb-status UpToDate,SWHardeningNeeded,OutOfDate --log-level warn "$@" \
    >"$tmp/$s.log" 2>&1 &
  pid[$s]=$!
done
for s in A B; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:${port[$s]}/readyz" >/dev/null && break; sleep 0.05; done
done
for r in $(seq "$rounds"); do
  for s in A B; do
    out=$("$tmp/driver" bench attest --endpoint "http://127.0.0.1:${port[$s]}" --type openenclave \
      --evidence "$vectors/maa/openenclave_report.b64url" \
      --concurrency 4 --duration "$duration" --server-pid "${pid[$s]}")
    echo "round $r $s (${bin[$s]}, load $(cut -d' ' -f1 /proc/loadavg)):" \
      $(grep -oE 'throughput [0-9.]+/s|p99 [0-9.]+ ms|server CPU [0-9.]+ ms|driver CPU [0-9.]+ ms' <<<"$out")
  done
done
