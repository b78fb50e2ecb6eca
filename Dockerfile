# syntax=docker/dockerfile:1
#
# The Tenantry container image: one glibc binary (askama page and mail templates and the SQL
# migrations are compiled into it) plus the static files it serves, on a distroless base with
# no shell and no package manager, running as the unprivileged numeric user 65532.
#
#   docker build -t registry.example.com/platform/tenantry:0.1.0 .
#
# The image works with a read-only root filesystem: the portal writes nothing but to stderr
# (the Helm chart still mounts an emptyDir at /tmp for libraries that want one).

# The toolchain of the workspace's rust-version (Cargo.toml), on the same Debian release as the
# runtime image below, so the binary's glibc requirement is met.
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM docker.io/library/rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
# Compile-checked SQL (if any) uses the committed .sqlx/ data, never a live database.
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never
# .dockerignore keeps out target/, .git, the charts, docs and the dev stack.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tenantry --bin tenantry \
    && install -D -m 0755 target/release/tenantry /out/usr/local/bin/tenantry \
    && mkdir -p /out/usr/share/tenantry \
    && cp -r static /out/usr/share/tenantry/static

# cc: glibc, libgcc and CA certificates, nothing else. Its nonroot user is 65532:65532.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=build /out/ /
ENV TENANTRY_STATIC_DIR=/usr/share/tenantry/static \
    TENANTRY_CONFIG=/etc/tenantry/config.toml
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tenantry"]
CMD ["serve"]

LABEL org.opencontainers.image.title="tenantry" \
      org.opencontainers.image.description="Self-service multi-tenant Kubernetes portal" \
      org.opencontainers.image.licenses="Apache-2.0"
