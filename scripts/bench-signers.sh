#!/usr/bin/env bash
# A/B of the token signers end to end (docs/PERFORMANCE.md): one binary built
# with -tags openssl, two servers side by side (--token-signer openssl and
# go), driven alternately ROUNDS times for DURATION each, so load from
# elsewhere on the machine hits both alike. Prints throughput and the
# server's CPU per attestation for each round.
#
#   scripts/bench-signers.sh [ROUNDS] [DURATION] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-4} duration=${2:-5s} conc=${3:-4}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -tags openssl -o "$tmp/maat" ./cmd/maat
"$tmp/maat" version
vectors=internal/testsupport/sgxvectors/data
serve() { # signer port
  "$tmp/maat" serve --dev --https-addr "" --http-addr "127.0.0.1:$2" --data "$tmp/data-$1" \
    --collateral-dir "$vectors/pcs2025" --dev-time 2025-06-01T00:00:00Z \
    --accept-tcb-status UpToDate,SWHardeningNeeded,OutOfDate --log-level warn --token-signer "$1" \
    >"$tmp/$1.log" 2>&1 &
}
# Started in this shell (not in $(...)), so $! and the EXIT trap's jobs
# are the servers themselves.
declare -A pid port=([openssl]=18101 [go]=18102)
for s in openssl go; do
  serve "$s" "${port[$s]}"
  pid[$s]=$!
done
for s in openssl go; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:${port[$s]}/readyz" >/dev/null && break; sleep 0.05; done
done
for r in $(seq "$rounds"); do
  for s in openssl go; do
    echo "round $r $s (load $(cut -d' ' -f1 /proc/loadavg))"
    "$tmp/maat" bench attest --endpoint "http://127.0.0.1:${port[$s]}" --type openenclave \
      --evidence "$vectors/maa/openenclave_report.b64url" \
      --concurrency "$conc" --duration "$duration" --server-pid "${pid[$s]}" | grep -E 'throughput|server CPU'
  done
done
