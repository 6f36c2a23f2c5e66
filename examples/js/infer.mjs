#!/usr/bin/env node
// Request verified inference on OPG chain with @polkadot/api, nothing else.
//
//   npm ci --prefix examples/js
//   node examples/js/infer.mjs --model 0x… --text "OPG chain verifies AI inference."
//   node examples/js/infer.mjs --model 0x… --input-json input.json   # {"F32": {...}}
//
// It quotes the request through the `InferenceApi` runtime API, submits
// `inference.requestInference` with the input as a typed value ({ Text: '…' },
// { Tokens: [...] }, { F32: { shape: [...], bits: [...] } }), waits for the `Settled` event of
// its request, and reads the settled output back through `InferenceApi.requestStatus`. It prints
// one JSON object:
//
//   {"request": 7, "status": "settled", "block": 123, "output": {"f32": {...}}, "output_hex": "0x…"}
//
// `output_hex` is the output's SCALE encoding as the API decoded it: the bytes `opg-engine run`
// prints for the same model and input, and what `opg verify` checks.

import { ApiPromise, WsProvider } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: 'ws://127.0.0.1:9944' },
    suri: { type: 'string', default: '//Ferdie' },
    model: { type: 'string' },
    text: { type: 'string' },
    tokens: { type: 'string' },
    'input-json': { type: 'string' },
    seats: { type: 'string', default: '3' },
    timeout: { type: 'string', default: '300' },
  },
});

function fail (message) {
  console.error(`error: ${message}`);
  process.exit(1);
}

if (!args.model) fail('give --model 0x…');
const input = args.text !== undefined
  ? { Text: args.text }
  : args.tokens !== undefined
    ? { Tokens: args.tokens.split(',').map(Number) }
    : args['input-json'] !== undefined
      ? JSON.parse(readFileSync(args['input-json'], 'utf8'))
      : fail('give --text, --tokens or --input-json');
const seats = Number(args.seats);

await cryptoWaitReady();
const provider = new WsProvider(args.url, false);
await provider.connect().catch((e) => fail(`cannot reach the node at ${args.url}: ${e.message}`));
const api = await ApiPromise.create({
  provider,
  noInitWarn: true,
  // Committee members' fee-free submissions are authorized by the runtime (`AuthorizeCall`),
  // an extension that adds nothing to a signed transaction.
  signedExtensions: { AuthorizeCall: { extrinsic: {}, payload: {} } },
});
const requester = new Keyring({ type: 'sr25519' }).addFromUri(args.suri);

const quote = await api.call.inferenceApi.quote(args.model, seats);
if (quote.isNone) fail(`no model is registered under ${args.model}`);
const maxFee = quote.unwrap();
console.error(`quote ${maxFee.toString()} (max fee) for ${seats} seats`);

// Submit, and learn the request's id from its `InferenceRequested` event once included.
const { request, included } = await new Promise((resolve, reject) => {
  api.tx.inference
    .requestInference(args.model, input, maxFee, seats)
    .signAndSend(requester, async ({ status, events, dispatchError }) => {
      if (dispatchError) {
        const why = dispatchError.isModule
          ? (({ section, name, docs }) => `${section}.${name} (${docs.join(' ')})`)(api.registry.findMetaError(dispatchError.asModule))
          : dispatchError.toString();
        reject(new Error(`the chain refused the request: ${why}`));
      } else if (status.isInBlock) {
        const requested = events.find(({ event }) => api.events.inference.InferenceRequested.is(event));
        if (!requested) return reject(new Error('included without an InferenceRequested event'));
        const header = await api.rpc.chain.getHeader(status.asInBlock);
        const id = requested.event.data.request.toNumber();
        console.error(`request ${id} included in block ${header.number.toNumber()}`);
        resolve({ request: id, included: header.number.toNumber() });
      } else if (status.isInvalid || status.isDropped || status.isUsurped) {
        reject(new Error(`the transaction was ${status.type.toLowerCase()}`));
      }
    })
    .catch(reject);
}).catch((e) => fail(e.message));

// Read every best block's events from the inclusion on (block by block: a subscription may
// skip blocks) until the committee ends the request.
async function follow () {
  const deadline = Date.now() + Number(args.timeout) * 1000;
  let next = included;
  while (Date.now() < deadline) {
    const best = (await api.rpc.chain.getHeader()).number.toNumber();
    for (; next <= best; next++) {
      const hash = await api.rpc.chain.getBlockHash(next);
      const events = await (await api.at(hash)).query.system.events();
      for (const { event } of events) {
        if (event.section !== 'inference' || event.data.request?.toNumber() !== request) continue;
        if (event.method === 'CommitteeDrawn') console.error(`committee drawn in block ${next}`);
        const status = { Settled: 'settled', Rejected: 'rejected', Failed: 'refunded' }[event.method];
        if (status) {
          console.error(`request ${request} ${status} in block ${next}`);
          return { status, block: next, hash };
        }
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  fail(`request ${request} did not end in ${args.timeout} s`);
}
const ended = await follow();

const result = { request, status: ended.status, block: ended.block };
if (ended.status === 'settled') {
  // The answer as the runtime API reports it, at the block that settled it.
  const reported = await (await api.at(ended.hash)).call.inferenceApi.requestStatus(request);
  const output = reported.asSettled.output;
  result.output = output.toJSON();
  result.output_hex = output.toHex();
}
console.log(JSON.stringify(result));
await api.disconnect();
process.exit(ended.status === 'settled' ? 0 : 1);
