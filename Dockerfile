# syntax=docker/dockerfile:1
# The `preflight` binary with the PostgreSQL tools it calls (pg_dump,
# pg_restore, psql; initdb and pg_ctl for the local rehearsal and the
# drift check's throwaway databases) and git (repo checks).
#
#   docker build -t preflight .
#   docker run --rm -v "$PWD:/work" -w /work preflight release run --env local --manifest M

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY crates crates
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --locked --release -p preflight-cli \
    && install -D target/release/preflight /out/preflight

FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       ca-certificates git postgresql postgresql-client python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/preflight /usr/local/bin/preflight
# Not root: the PostgreSQL server refuses to run as root, and the local
# cluster then lives in the project folder without a second user.
RUN useradd --create-home --uid 10001 preflight
USER preflight
ENV PATH="/usr/lib/postgresql/15/bin:${PATH}"
WORKDIR /work
ENTRYPOINT ["preflight"]
CMD ["--help"]
