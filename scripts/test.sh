#!/usr/bin/env bash
# The one test command (README "Test"): vet, the whole test suite with the
# race detector (server module and SDK module), the official MAA JavaScript
# client tests, and a short run of every fuzz target.
#
# Environment:
#   MAAT_TEST_POSTGRES_DSN   PostgreSQL for the store tests (skipped when unset)
#   MAAT_REQUIRE_JS_CLIENT=1 fail instead of skip when the JS client is missing
#   MAAT_FUZZTIME            per-target fuzz time (default 5s; 0 skips fuzzing)
#
# The server module is vetted, tested and fuzzed with -tags simulator: the
# TPM 2.0 simulator (cgo + OpenSSL) is only built in with that tag, and the
# tests that drive it carry it too, so none is skipped. A second step builds
# cmd/maat with CGO_ENABLED=0 (the default server binary, no libcrypto) and
# runs the binary tests of cmd/maat against it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${MAAT_TEST_POSTGRES_DSN:-}" ]; then
  echo "NOTE: MAAT_TEST_POSTGRES_DSN is unset: the PostgreSQL store tests will be SKIPPED"
  echo "      (set it, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run them)"
fi

echo "== npm ci (official MAA JS client, @azure/attestation) =="
if command -v npm >/dev/null 2>&1; then
  (cd test/js && npm ci --no-audit --no-fund --loglevel=error)
else
  echo "npm not found: the JS client tests will skip (or fail with MAAT_REQUIRE_JS_CLIENT=1)"
fi

echo "== gofmt =="
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './test/js/*'))
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi

modules=(. sdk/azattest)
# tags_for MODULE: the build tags the module's tests need.
tags_for() { if [ "$1" = "." ]; then echo "-tags=simulator"; else echo "-tags="; fi; }
for m in "${modules[@]}"; do
  [ -f "$m/go.mod" ] || continue
  echo "== go vet ($m) =="
  (cd "$m" && go vet "$(tags_for "$m")" ./...)
done
echo "== go vet (., without the simulator tag) =="
CGO_ENABLED=0 go vet ./...

for m in "${modules[@]}"; do
  [ -f "$m/go.mod" ] || continue
  echo "== go test -race ($m) =="
  (cd "$m" && go test -race "$(tags_for "$m")" -count=1 -timeout 20m ./...)
done

echo "== CGO_ENABLED=0 server binary: build, no libcrypto, binary tests =="
nocgo=$(mktemp -d)
CGO_ENABLED=0 go build -o "$nocgo/maat" ./cmd/maat
if go version -m "$nocgo/maat" | grep -q 'CGO_ENABLED=1'; then echo "cmd/maat was built with cgo"; exit 1; fi
if command -v ldd >/dev/null 2>&1 && ldd "$nocgo/maat" 2>/dev/null | grep -q libcrypto; then echo "cmd/maat links libcrypto"; exit 1; fi
MAAT_TEST_BINARY="$nocgo/maat" CGO_ENABLED=0 go test -count=1 -timeout 10m ./cmd/maat
rm -rf "$nocgo"

# --- OpenSSL token-signer flavour (issue 17) -------------------------------
# The default build above signs tokens with Go's crypto. The same suite runs
# again built with -tags openssl (cgo + libcrypto 3, libssl-dev), where the
# server signs through OpenSSL (--token-signer auto) and internal/keys checks
# both backends byte for byte.
echo "== go vet -tags openssl (.) =="
go vet -tags openssl,simulator ./...
# The OpenSSL flavour: the signer and every test that issues tokens through
# it (replay of real MAA traffic, the JS client, the SDK contract tests).
# The rest of the tree does not depend on the token signer.
echo "== go test -tags openssl (signer, token, app, cmd) =="
go test -count=1 -timeout 20m -tags openssl,simulator ./internal/keys/... ./internal/token/... ./internal/app/... ./cmd/...
echo "== maat version lists the OpenSSL signer =="
go run -tags openssl ./cmd/maat version | grep -q 'token signers: go, openssl' || { echo "openssl signer not compiled in"; exit 1; }
# --- end OpenSSL token-signer flavour ----------------------------------------

fuzztime=${MAAT_FUZZTIME:-5s}
if [ "$fuzztime" != "0" ]; then
  for m in "${modules[@]}"; do
    [ -f "$m/go.mod" ] || continue
    echo "== fuzz smoke ($m, $fuzztime per target) =="
    tags=$(tags_for "$m")
    (cd "$m" && for pkg in $(go list "$tags" ./...); do
      for target in $(go test "$tags" -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
        echo "-- $pkg $target"
        # -fuzzminimizetime bounds the minimisation of new inputs, which can
        # otherwise outlast a short -fuzztime and end in "context deadline
        # exceeded" without any failing input. A run that fails that way (no
        # input written) is retried once; a real crash fails at once.
        log=$(mktemp)
        if ! go test "$tags" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 1s "$pkg" >"$log" 2>&1; then
          if grep -q "Failing input written" "$log" || ! grep -q "context deadline exceeded" "$log"; then cat "$log"; exit 1; fi
          echo "   (fuzz engine deadline without a failing input; retrying once)"
          go test "$tags" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 1s "$pkg" >"$log" 2>&1 || { cat "$log"; exit 1; }
        fi
        rm -f "$log"
      done
    done)
  done
fi
echo "== all tests passed =="
