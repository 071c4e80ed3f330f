# Builds and runs sandbank. Image names are fully qualified, so podman and other engines
# without a default registry build it too. The build needs crates.io (or a `cargo vendor`
# directory copied in with a matching .cargo/config.toml); nothing is downloaded at build time
# by the crate itself (Swagger UI is vendored).
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, in their own layer: a change to the sources does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && echo '' > src/lib.rs \
    && echo 'fn main() {}' > benches/load.rs \
    && cargo build --release --locked --bin sandbank \
    && rm -rf src benches
COPY src ./src
COPY scenarios ./scenarios
COPY benches ./benches
# The placeholder's build artefacts are older than the sources, but touch makes sure.
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin sandbank

FROM docker.io/library/debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin sandbank \
    && mkdir -p /data && chown sandbank:sandbank /data
COPY --from=build /src/target/release/sandbank /usr/local/bin/sandbank
COPY scenarios /scenarios
ENV SANDBANK_HOST=0.0.0.0 \
    SANDBANK_PORT=8080 \
    SANDBANK_DATA_DIR=/data
USER sandbank
VOLUME /data
EXPOSE 8080
# `sandbank healthcheck` asks 127.0.0.1:$SANDBANK_PORT/healthz (the image has no curl).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["sandbank", "healthcheck"]
ENTRYPOINT ["sandbank"]
