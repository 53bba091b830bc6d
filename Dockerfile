# The useradmin web image: a multi-stage build with a cached dependency
# layer (cargo-chef), a release binary that carries its migrations and templates
# (sqlx::migrate! and askama compile them in), and a small Debian runtime that
# runs as a non-root user.
#
#   docker build -t useradmin .
#   docker run --rm useradmin --help
#
# Nothing here needs a live database: the SQL is checked at run time (sqlx::query),
# so no DATABASE_URL or .sqlx offline data is used at build time.

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# --- chef: the Rust toolchain plus cargo-chef --------------------------------------
FROM ${RUST_IMAGE} AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

# --- planner: reduce the workspace to the recipe of its dependencies --------------
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# --- builder: dependencies first (cached until Cargo.toml/Cargo.lock change) ------
FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --bin useradmin
COPY . .
RUN cargo build --release --locked --bin useradmin \
    && install -D -m 0755 target/release/useradmin /out/useradmin \
    && mkdir -p static \
    && cp -R static /out/static

# --- runtime: glibc matches the builder (both bookworm) ----------------------------
FROM ${RUNTIME_IMAGE} AS runtime
# ca-certificates: the trust roots for rediss:// and PostgreSQL over TLS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 useradmin \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin useradmin

COPY --from=builder /out/useradmin /usr/local/bin/useradmin
# Static files are served from the working directory as static/ (read-only, owned
# by root: the service never writes them).
WORKDIR /app
COPY --from=builder /out/static /app/static

# A numeric user, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001

ENV PORT=5000 \
    BIND=0.0.0.0
EXPOSE 5000
# The /metrics listener, when METRICS_BIND sets it (compose and the manifests:
# 0.0.0.0:9100); for scrapers on the container network, never published.
EXPOSE 9100

# SIGTERM drains in-flight requests (at most 10 s) and exits 0; compose's
# stop_grace_period and Kubernetes' terminationGracePeriodSeconds are 15 s.
STOPSIGNAL SIGTERM

# No curl in the image: the binary checks itself (GET http://127.0.0.1:$PORT/health).
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s --retries=3 \
    CMD ["useradmin", "healthcheck"]

ENTRYPOINT ["useradmin"]
CMD ["serve"]
