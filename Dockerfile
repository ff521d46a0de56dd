# syntax=docker/dockerfile:1
#
# cnpg-guard container image for build systems that reach a registry: a
# builder stage compiles the binary, statically linked; the final stage is
# the same as Dockerfile.prebuilt's (tests/deploy_manifests.rs compares them),
# which `make image` uses with a binary built on the host when no registry is
# reachable. Build from the repository root:
#
#   docker build -t ghcr.io/railiance/cnpg-guard:0.1.0 .
#
# The build context is an allowlist (.dockerignore): Cargo.toml, Cargo.lock,
# src/, benches/ (declared in Cargo.toml) and deploy/base/contract.yaml, which the binary embeds as its
# default contract (include_str!). Nothing else, in particular no key material
# from deploy/overlays/self-signed/certs/, reaches the builder.

ARG RUST_VERSION=1.95

# ---- builder -----------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS builder

# A static-pie binary against glibc (crt-static), as `make image` builds it:
# it needs nothing from the image it runs in. Symbols stripped for a smaller
# image; the release profile in Cargo.toml stays as it is.
ENV RUSTFLAGS="-C target-feature=+crt-static" \
    CARGO_TERM_COLOR=never \
    CARGO_PROFILE_RELEASE_STRIP=symbols

WORKDIR /src

# Dependency layer: build every dependency against placeholder sources. This
# layer is reused until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
# Cargo.toml declares benches/rules.rs and two tests with their own runner
# (tests/ is not in the context), so placeholders must exist for them too.
RUN mkdir src benches tests \
 && echo 'fn main() {}' > src/main.rs \
 && : > src/lib.rs \
 && echo 'fn main() {}' > benches/rules.rs \
 && echo 'fn main() {}' > tests/envtest.rs \
 && echo 'fn main() {}' > tests/field_inventory.rs \
 && echo 'fn main() {}' > tests/pgtest.rs \
 && cargo build --release --locked --target x86_64-unknown-linux-gnu --bin cnpg-guard \
 && rm -rf src benches

# The real sources. COPY keeps the files' modification times, which may be
# older than the placeholder build's outputs: touch the crate roots so cargo
# rebuilds cnpg-guard itself rather than keeping the placeholder binary.
COPY src ./src
COPY benches ./benches
COPY deploy/base/contract.yaml ./deploy/base/contract.yaml
RUN touch src/lib.rs src/main.rs \
 && cargo build --release --locked --target x86_64-unknown-linux-gnu --bin cnpg-guard \
 && cp target/x86_64-unknown-linux-gnu/release/cnpg-guard /cnpg-guard \
 && /cnpg-guard --version

# ---- runtime -----------------------------------------------------------------
# Nothing but the static binary: no shell, no package manager, no libc. The
# process runs as uid/gid 65532; run it with a read-only root file system
# (the Deployment does). Development mode writes its certificate to
# --dev-cert-dir, which must then be a writable mount (a tmpfs).
FROM scratch

LABEL org.opencontainers.image.title="cnpg-guard" \
      org.opencontainers.image.description="Enforces the shared CloudNativePG cluster contract: admission webhook, offline check and live audit" \
      org.opencontainers.image.source="https://github.com/railiance/cnpg-guard" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=builder /cnpg-guard /usr/local/bin/cnpg-guard

USER 65532:65532

# 8443: HTTPS webhook (/validate). 8080: plain HTTP admin (/healthz, /readyz, /metrics).
EXPOSE 8443 8080

ENTRYPOINT ["/usr/local/bin/cnpg-guard"]
CMD ["serve"]
