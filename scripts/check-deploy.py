#!/usr/bin/env python3
"""Check that docker-compose.yml and the Dockerfile describe the network devnet.sh starts.

No Docker engine is needed: the compose file is parsed, each validator's command is checked
against the node binary's own `--help`, and each bootnode peer id is recomputed from the node key
with `opg-node key inspect-node-key`.

    scripts/check-deploy.py path/to/opg-node
"""
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
VALIDATORS = ["alice", "bob", "charlie", "dave"]


def fail(msg):
    print(f"check-deploy: {msg}", file=sys.stderr)
    sys.exit(1)


def flags(command):
    out = {}
    for arg in command:
        name, _, value = arg.partition("=")
        out.setdefault(name, []).append(value)
    return out


def peer_id(node, key_hex):
    with tempfile.NamedTemporaryFile("w", suffix=".key") as f:
        f.write(key_hex)
        f.flush()
        return subprocess.run(
            [node, "key", "inspect-node-key", "--file", f.name],
            check=True, capture_output=True, text=True,
        ).stdout.strip()


def main():
    node = sys.argv[1] if len(sys.argv) > 1 else "opg-node"
    help_text = subprocess.run([node, "--help"], check=True, capture_output=True, text=True).stdout
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose.get("services") or fail("no services")
    devnet = (ROOT / "scripts" / "devnet.sh").read_text()

    ids = {}
    for name in VALIDATORS:
        svc = services.get(name) or fail(f"no service {name}")
        f = flags(svc["command"])
        for flag in f:
            if flag.startswith("--") and not re.search(rf"\s{re.escape(flag)}[\s,=<]", help_text):
                fail(f"{name}: opg-node has no flag {flag}")
        if f.get("--chain") != ["local"] or f"--{name}" not in f:
            fail(f"{name}: must run --chain=local --{name}")
        for flag in ("--no-mdns", "--no-telemetry"):
            if flag not in f or flag not in devnet:
                fail(f"{name}: {flag} should be set here and in devnet.sh")
        for port in svc.get("ports", []):
            if not port.startswith("127.0.0.1:"):
                fail(f"{name}: port {port} must be published on 127.0.0.1 only")
        ids[name] = peer_id(node, f["--node-key"][0])

    for name in VALIDATORS[1:]:
        boot = flags(services[name]["command"]).get("--bootnodes", [""])[0]
        if not boot.endswith("/p2p/" + ids["alice"]):
            fail(f"{name}: bootnode {boot} is not alice's peer id {ids['alice']}")

    dockerfile = (ROOT / "Dockerfile").read_text()
    for needed in ("wasm32-unknown-unknown", "wasm32v1-none", "rust-src", "protobuf-compiler",
                   "cargo build --release --locked -p opg-node"):
        if needed not in dockerfile:
            fail(f"Dockerfile does not mention {needed}")
    if not re.search(r"^FROM .*rust:\d+\.\d+", dockerfile, re.M):
        fail("Dockerfile must pin its Rust image")

    # The client container runs scripts/demo.sh, the devnet's demo, with flags it has.
    client = services.get("client") or fail("no client service")
    if (client.get("build") or {}).get("target") != "client" or "AS client" not in dockerfile:
        fail("client: must build the Dockerfile's client target")
    if "ENTRYPOINT [\"/opg/scripts/demo.sh\"]" not in dockerfile or "opg-engine" not in dockerfile:
        fail("Dockerfile's client image must ship opg-engine and run scripts/demo.sh")
    demo = (ROOT / "scripts" / "demo.sh").read_text()
    for flag in client.get("command", []):
        if flag.startswith("--") and f"{flag})" not in demo:
            fail(f"client: scripts/demo.sh has no flag {flag}")
    print(f"check-deploy: docker-compose.yml and Dockerfile agree with devnet.sh ({len(ids)} validators)")


if __name__ == "__main__":
    main()
