# syntax=docker/dockerfile:1
#
# cnpg-guard container image: a static (musl) binary on distroless, running as
# uid/gid 65532. Build from the repository root:
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

# musl-gcc compiles the C and assembly parts of ring and jemalloc for the musl target.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add x86_64-unknown-linux-musl

# Strip symbols for a smaller image; the release profile in Cargo.toml stays as it is.
ENV CC_x86_64_unknown_linux_musl=musl-gcc \
    CARGO_TERM_COLOR=never \
    CARGO_PROFILE_RELEASE_STRIP=symbols

WORKDIR /src

# Dependency layer: build every dependency against placeholder sources. This
# layer is reused until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
# Cargo.toml declares benches/rules.rs, so a placeholder must exist too.
RUN mkdir src benches \
 && echo 'fn main() {}' > src/main.rs \
 && : > src/lib.rs \
 && echo 'fn main() {}' > benches/rules.rs \
 && cargo build --release --locked --target x86_64-unknown-linux-musl --bin cnpg-guard \
 && rm -rf src benches

# The real sources. COPY keeps the files' modification times, which may be
# older than the placeholder build's outputs: touch the crate roots so cargo
# rebuilds cnpg-guard itself rather than keeping the placeholder binary.
COPY src ./src
COPY benches ./benches
COPY deploy/base/contract.yaml ./deploy/base/contract.yaml
RUN touch src/lib.rs src/main.rs \
 && cargo build --release --locked --target x86_64-unknown-linux-musl --bin cnpg-guard \
 && cp target/x86_64-unknown-linux-musl/release/cnpg-guard /cnpg-guard \
 && /cnpg-guard --version

# ---- runtime -----------------------------------------------------------------
# Static, no shell, no package manager; the :nonroot tag's default user is 65532.
FROM gcr.io/distroless/static-debian12:nonroot

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
