#!/usr/bin/env bash
# Makes a self-signed TLS certificate for the compose example (replace it
# with a real one; the replicas reload it when the files change).
set -euo pipefail
cd "$(dirname "$0")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout tls.key -out tls.crt
chmod 0644 tls.key tls.crt # read by the image's non-root user
