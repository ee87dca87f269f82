# Multi-stage build: compile in the Rust image, run in a slim Debian with only libpq.
FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock clippy.toml ./
COPY .cargo ./.cargo
COPY src ./src
COPY migrations ./migrations
COPY config ./config
COPY templates ./templates
COPY benches ./benches
COPY tests ./tests
RUN cargo build --release --locked --bin asset-exchange

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin exchange
WORKDIR /app
COPY --from=build /src/target/release/asset-exchange /usr/local/bin/asset-exchange
COPY config ./config
RUN mkdir -p /app/data && chown exchange /app/data
USER exchange
ENV APP_ENV=production \
    APP_CONFIG_DIR=/app/config
EXPOSE 8080
# Migrations are a release step run as the schema's owner, not by the service:
#   docker run --rm -e DATABASE_URL=postgres://asset_exchange_owner@... IMAGE \
#       migrate --app-role asset_exchange_app
# then the service, as the role that cannot change the schema or history:
#   docker run -e DATABASE_URL=postgres://asset_exchange_app@... IMAGE
# `serve` refuses to start while a migration is pending (production: migrate_on_start off).
ENTRYPOINT ["asset-exchange"]
CMD ["serve"]
