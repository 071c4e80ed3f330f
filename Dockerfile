# Builds and runs sandbank. The build needs crates.io (or a `cargo vendor` directory copied
# in with a matching .cargo/config.toml); nothing is downloaded at build time by the crate
# itself (Swagger UI is vendored).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY scenarios ./scenarios
COPY benches ./benches
RUN cargo build --release --locked --bin sandbank

FROM debian:bookworm-slim
COPY --from=build /src/target/release/sandbank /usr/local/bin/sandbank
COPY scenarios /scenarios
ENV SANDBANK_HOST=0.0.0.0 \
    SANDBANK_PORT=8080 \
    SANDBANK_DATA_DIR=/data
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["sandbank"]
