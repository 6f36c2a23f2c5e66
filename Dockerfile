# Builds opg-node and the opg client and ships them in a slim image.
#   docker build -t opg-node .
FROM docker.io/library/rust:1.95-bookworm AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends protobuf-compiler \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add wasm32-unknown-unknown wasm32v1-none \
 && rustup component add rust-src
WORKDIR /src
COPY . .
ENV CARGO_TARGET_DIR=/src/target
RUN cargo build --release --locked -p opg-node -p opg-client \
 && cp target/release/opg-node /opg-node && cp target/release/opg /opg

FROM docker.io/library/debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 --home-dir /opg opg \
 && mkdir -p /data && chown opg:opg /data
COPY --from=builder /opg-node /usr/local/bin/opg-node
COPY --from=builder /opg /usr/local/bin/opg
USER opg
# p2p, JSON-RPC (HTTP + WebSocket), Prometheus
EXPOSE 30333 9944 9615
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/opg-node"]
CMD ["--dev", "--base-path", "/data", "--rpc-external", "--rpc-cors", "all"]
