# Maat server image: a static (CGO_ENABLED=0) binary on an empty base, run as
# a non-root user, with the CA certificates it needs to fetch collateral and
# OIDC keys, and /data as its volume.
#
#   docker build -t maat .            (or: buildah bud -t maat .)
#   docker run -p 8443:8443 -p 9090:9090 -v maat-data:/data maat
#
# The build stage needs the golang image; deploy/Dockerfile.binary packages
# an already built binary the same way without any registry (what CI tests).
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
COPY sdk/azattest/go.mod sdk/azattest/go.sum sdk/azattest/
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/maat-attest/maat/internal/cli.Version=${VERSION}" -o /out/maat ./cmd/maat
RUN mkdir -p /out/data /out/etc/maat \
 && cp /etc/ssl/certs/ca-certificates.crt /out/ca-certificates.crt \
 && echo "maat:x:65532:65532:maat:/data:/sbin/nologin" > /out/passwd \
 && echo "maat:x:65532:" > /out/group \
 && cp deploy/maat.yaml /out/etc/maat/maat.yaml

FROM scratch
COPY --from=build /out/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/group /etc/group
COPY --from=build /out/etc/maat /etc/maat
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build /out/maat /maat
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8443 9090
ENV MAAT_DATA=/data MAAT_HTTPS_ADDR=0.0.0.0:8443 MAAT_METRICS_ADDR=0.0.0.0:9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["/maat", "healthcheck", "--url", "http://127.0.0.1:9090/healthz"]
ENTRYPOINT ["/maat"]
CMD ["serve", "--config", "/etc/maat/maat.yaml"]
