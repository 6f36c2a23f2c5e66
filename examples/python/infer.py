#!/usr/bin/env python3
"""Request verified inference on OPG chain with py-substrate-interface, nothing else.

    pip install -r examples/python/requirements.txt
    python3 examples/python/infer.py --model 0x… --text "OPG chain verifies AI inference."
    python3 examples/python/infer.py --model 0x… --input-json input.json   # {"F32": {...}}

It quotes the request through the `InferenceApi` runtime API, submits
`inference.request_inference` with the input as a typed value (`{"Text": "…"}`,
`{"Tokens": [...]}`, `{"F32": {"shape": [...], "bits": [...]}}`), follows the chain's events
until the committee settles it, and reads the settled output back through
`InferenceApi.request_status`. It prints one JSON object:

    {"request": 7, "status": "settled", "block": 123, "output": {"F32": {...}}, "output_hex": "0x…"}

`output_hex` is the output's SCALE encoding, re-encoded from what the library decoded: the bytes
`opg-engine run` prints for the same model and input, and what `opg verify` checks.
"""

import argparse
import hashlib
import json
import sys
import time

from substrateinterface import Keypair, SubstrateInterface
from substrateinterface.exceptions import SubstrateRequestException

# The runtime API is not in metadata v14, which this library reads: its types are declared here,
# in the order the runtime defines them (opg_primitives::inference).
TYPES = {
    "OpgValue": {
        "type": "enum",
        "type_mapping": [["F32", "OpgF32"], ["I64", "OpgI64"], ["Text", "Bytes"], ["Tokens", "Vec<u32>"]],
    },
    "OpgF32": {"type": "struct", "type_mapping": [["shape", "Vec<u32>"], ["bits", "Vec<u32>"]]},
    "OpgI64": {"type": "struct", "type_mapping": [["shape", "Vec<u32>"], ["data", "Vec<i64>"]]},
    "OpgRejection": {
        "type": "enum",
        "value_list": [
            "Undecodable", "Empty", "WrongType", "WrongShape", "InconsistentShape", "TooLarge",
            "TextTooLong", "NotUtf8", "TokenOutOfRange", "NotFinite", "DivisionByZero", "ModelFailed",
        ],
    },
    "OpgPhaseEnds": {"type": "struct", "type_mapping": [["round", "u8"], ["ends", "u32"]]},
    "OpgSettled": {"type": "struct", "type_mapping": [["output", "OpgValue"], ["at", "u32"]]},
    "OpgRejected": {"type": "struct", "type_mapping": [["reason", "OpgRejection"], ["at", "u32"]]},
    "OpgRequestStatus": {
        "type": "enum",
        "type_mapping": [
            ["Unknown", "Null"], ["Drawing", "Null"], ["Commit", "OpgPhaseEnds"],
            ["Reveal", "OpgPhaseEnds"], ["Settled", "OpgSettled"], ["Rejected", "OpgRejected"],
        ],
    },
}

TYPE_REGISTRY = {
    "runtime_api": {
        "InferenceApi": {
            "methods": {
                "quote": {
                    "description": "What a request on `model` with `seats` members costs at most.",
                    "params": [{"name": "model", "type": "H256"}, {"name": "seats", "type": "u32"}],
                    "type": "Option<u128>",
                },
                "request_status": {
                    "description": "Where request `id` is.",
                    "params": [{"name": "id", "type": "u64"}],
                    "type": "OpgRequestStatus",
                },
            },
            "types": TYPES,
        }
    },
}


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def extrinsic_index(substrate, block_hash, extrinsic_hash):
    """Where our transaction sits in a block, by hashing the block's raw extrinsics (the block
    also holds the workers' general transactions, which this library cannot decode)."""
    block = substrate.rpc_request("chain_getBlock", [block_hash])["result"]["block"]
    for index, raw in enumerate(block["extrinsics"]):
        if "0x" + hashlib.blake2b(bytes.fromhex(raw[2:]), digest_size=32).hexdigest() == extrinsic_hash:
            return index
    return None


def new_blocks(substrate, start, timeout):
    """Yield (number, hash) of every best block from `start` on, waiting for new ones."""
    deadline = time.monotonic() + timeout
    number = start
    while time.monotonic() < deadline:
        best = substrate.get_block_number(substrate.get_chain_head())
        while number <= best:
            yield number, substrate.get_block_hash(number)
            number += 1
        time.sleep(1)
    fail(f"nothing happened for {timeout} s")


def events_of(substrate, block_hash):
    return [e.value for e in substrate.get_events(block_hash)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="ws://127.0.0.1:9944")
    parser.add_argument("--suri", default="//Ferdie", help="the requester's secret URI")
    parser.add_argument("--model", required=True, help="the model's id, 0x…")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text")
    source.add_argument("--tokens", help="comma-separated token ids")
    source.add_argument("--input-json", help='a file holding one value, e.g. {"F32": {"shape": [1, 4], "bits": [...]}}')
    parser.add_argument("--seats", type=int, default=3)
    parser.add_argument("--timeout", type=int, default=300, help="seconds to wait for the answer")
    args = parser.parse_args()

    if args.text is not None:
        value = {"Text": args.text}
    elif args.tokens is not None:
        value = {"Tokens": [int(t) for t in args.tokens.split(",")]}
    else:
        with open(args.input_json) as f:
            value = json.load(f)

    try:
        substrate = SubstrateInterface(url=args.url, type_registry=TYPE_REGISTRY)
    except (ConnectionError, OSError) as e:
        fail(f"cannot reach the node at {args.url}: {e}")
    requester = Keypair.create_from_uri(args.suri)

    # The most this request can cost; the unspent part of the hold is released when it ends.
    quote = substrate.runtime_call("InferenceApi", "quote", [args.model, args.seats]).value
    if quote is None:
        fail(f"no model is registered under {args.model}")

    call = substrate.compose_call(
        call_module="Inference",
        call_function="request_inference",
        call_params={"model": args.model, "input": value, "max_fee": quote, "seats": args.seats},
    )
    extrinsic = substrate.create_signed_extrinsic(call=call, keypair=requester)
    start = substrate.get_block_number(substrate.get_chain_head()) + 1
    try:
        receipt = substrate.submit_extrinsic(extrinsic, wait_for_inclusion=False)
    except SubstrateRequestException as e:
        fail(f"the node refused the transaction: {e}")
    print(f"submitted {receipt.extrinsic_hash}, quote {quote} (max fee)", file=sys.stderr)

    request = None
    status = None
    for number, block_hash in new_blocks(substrate, start, args.timeout):
        events = events_of(substrate, block_hash)
        if request is None:
            index = extrinsic_index(substrate, block_hash, receipt.extrinsic_hash)
            if index is None:
                continue
            ours = [e for e in events if e["phase"] == "ApplyExtrinsic" and e["extrinsic_idx"] == index]
            for e in ours:
                if (e["module_id"], e["event_id"]) == ("System", "ExtrinsicFailed"):
                    fail(f"the chain refused the request: {e['attributes']}")
                if (e["module_id"], e["event_id"]) == ("Inference", "InferenceRequested"):
                    request = e["attributes"]["request"]
            if request is None:
                fail(f"block {number} included the transaction without an InferenceRequested event")
            print(f"request {request} included in block {number}", file=sys.stderr)
        for e in events:
            if e["module_id"] != "Inference" or e["attributes"] is None:
                continue
            if isinstance(e["attributes"], dict) and e["attributes"].get("request") == request:
                if e["event_id"] in ("Settled", "Rejected", "Failed"):
                    status = {"Settled": "settled", "Rejected": "rejected", "Failed": "refunded"}[e["event_id"]]
                    print(f"request {request} {status} in block {number}", file=sys.stderr)
                elif e["event_id"] == "CommitteeDrawn":
                    print(f"committee drawn in block {number}", file=sys.stderr)
        if status is not None:
            break

    result = {"request": request, "status": status, "block": number}
    if status == "settled":
        # The answer as the runtime API reports it, at the block that settled it.
        reported = substrate.runtime_call("InferenceApi", "request_status", [request], block_hash=block_hash).value
        output = reported["Settled"]["output"]
        encoded = substrate.runtime_config.create_scale_object("OpgValue").encode(output)
        result.update(output=output, output_hex=encoded.to_hex())
    print(json.dumps(result))
    sys.exit(0 if status == "settled" else 1)


if __name__ == "__main__":
    main()
