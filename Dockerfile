# syntax=docker/dockerfile:1
#
# dtp (dynatrace-token-provider) container image.
#
# builder  compiles the production binary with scripts/build-release.sh
#          (`cargo build --locked --release --bin dtp`: lockfile, release profile, no sandbox);
#          CI runs the same script (`make image-smoke`) and smoke-tests its output.
# runtime  distroless base-nossl (glibc, CA bundle, tzdata, /etc/passwd; no shell, no package
#          manager, no OpenSSL: dtp uses rustls) plus libgcc_s, which every Rust binary links.
#          Runs as the numeric non-root user 65532, writes nothing (read-only root filesystem).
#
# The builder and the runtime are both Debian 12 (glibc 2.36); keep them on the same release.
# Build: docker build --build-arg VERSION=$(git describe --tags --always) \
#          --build-arg REVISION=$(git rev-parse HEAD) -t dynatrace-token-provider .

ARG RUST_IMAGE=docker.io/library/rust:1.95.0-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/base-nossl-debian12:nonroot

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
# .dockerignore admits only what the build reads: the manifest, the lockfile, the sources.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    scripts/build-release.sh /out

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="dtp" \
      org.opencontainers.image.description="dtp (dynatrace-token-provider): provisions Dynatrace API tokens to OpenShift clusters through OCM" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="dtp maintainers" \
      io.k8s.display-name="dtp" \
      io.k8s.description="Provisions Dynatrace API tokens to OpenShift clusters through OCM SyncSets and Manifests"
COPY --from=builder /lib/x86_64-linux-gnu/libgcc_s.so.1 /lib/x86_64-linux-gnu/libgcc_s.so.1
COPY --from=builder --chmod=0555 /out/dtp /usr/local/bin/dtp
USER 65532:65532
# /metrics, /healthz, /readyz in loop mode (PROMETHEUS_PORT).
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/dtp"]
CMD ["run"]
