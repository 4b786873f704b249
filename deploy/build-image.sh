#!/usr/bin/env bash
# Builds the Maat image with no registry: a static CGO_ENABLED=0 binary,
# packaged FROM scratch by deploy/Dockerfile.binary (the runtime stage of the
# top-level Dockerfile), with buildah (or docker when buildah is absent).
#
#   deploy/build-image.sh [--test] [TAG]
#
# --test also checks the result: the binary is static, the image runs as
# the non-root user with /data as a volume, a health check and the example
# configuration, and the binary inside it runs (buildah run, chroot).
set -euo pipefail
cd "$(dirname "$0")/.."
test_it=0
if [[ "${1:-}" == "--test" ]]; then test_it=1; shift; fi
tag="${1:-localhost/maat:dev}"
version="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/maat-attest/maat/internal/cli.Version=${version}" -o "$ctx/maat" ./cmd/maat
cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
echo "maat:x:65532:65532:maat:/data:/sbin/nologin" > "$ctx/passwd"
echo "maat:x:65532:" > "$ctx/group"
cp deploy/maat.yaml "$ctx/maat.yaml"
mkdir "$ctx/data"
cp deploy/Dockerfile.binary "$ctx/Dockerfile"

if [[ $test_it == 1 ]]; then
  # Static: no program interpreter, no dynamic section.
  if readelf -l "$ctx/maat" | grep -q 'Requesting program interpreter'; then
    echo "FAIL: $ctx/maat is dynamically linked" >&2; exit 1
  fi
  "$ctx/maat" version
fi

if command -v buildah >/dev/null 2>&1; then
  b=(buildah --storage-driver "${MAAT_BUILDAH_STORAGE:-vfs}")
  "${b[@]}" bud --isolation chroot --format docker -t "$tag" -f "$ctx/Dockerfile" "$ctx"
  if [[ $test_it == 1 ]]; then
    cfg="$("${b[@]}" inspect --type image "$tag" | tr -d ' \n')"
    for want in '"User":"65532:65532"' '"Volumes":{"/data":{}}' '"Healthcheck":{"Test":["CMD","/maat","healthcheck"' '"Entrypoint":["/maat"]' '"MAAT_DATA=/data"'; do
      if ! grep -qF "$want" <<<"$cfg"; then echo "FAIL: image config lacks $want: $cfg" >&2; exit 1; fi
    done
    ctr="$("${b[@]}" from "$tag")"
    trap '"${b[@]}" rm "$ctr" >/dev/null 2>&1 || true; rm -rf "$ctx"' EXIT
    out="$("${b[@]}" run --isolation chroot "$ctr" -- /maat version)"
    [[ "$out" == "maat ${version}"* ]] || { echo "FAIL: /maat version in the image printed: $out" >&2; exit 1; }
    "${b[@]}" run --isolation chroot "$ctr" -- /maat healthcheck --help >/dev/null
    if "${b[@]}" run --isolation chroot "$ctr" -- /bin/sh -c true 2>/dev/null; then echo "FAIL: the image has a shell" >&2; exit 1; fi
    # Serve from the image (as its non-root user, data in /data) and ask the
    # health check the image declares.
    http_port=$((20000 + RANDOM % 20000)); admin_port=$((http_port + 1))
    "${b[@]}" run --isolation chroot "$ctr" -- /maat serve --dev --https-addr "" \
      --http-addr "127.0.0.1:$http_port" --metrics-addr "127.0.0.1:$admin_port" >"$ctx/serve.log" 2>&1 &
    serve_pid=$!
    ok=0
    for _ in $(seq 1 60); do
      if "${b[@]}" run --isolation chroot "$ctr" -- /maat healthcheck --url "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1; then ok=1; break; fi
      sleep 0.5
    done
    kill "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
    if [[ $ok != 1 ]]; then echo "FAIL: the server in the image never became ready:" >&2; cat "$ctx/serve.log" >&2; exit 1; fi
    echo "image $tag: static binary, non-root, /data volume, health check, serves and reports ready"
  fi
elif command -v docker >/dev/null 2>&1; then
  docker build -t "$tag" -f "$ctx/Dockerfile" "$ctx"
else
  echo "neither buildah nor docker is installed; the binary was built and checked only" >&2
  [[ $test_it == 1 ]] && exit 1
fi
