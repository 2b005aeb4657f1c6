// The Digital Credentials Consortium's verifier-core (what VerifierPlus and the Learner
// Credential Wallet run) on one of our credentials; driven by tests/e2e/test_dcc_interop.py.
//
//   node tests/interop/dcc_verifier_core.mjs < {"credential": {...}, "documents": {url: document}?}
//   → {"log": [{id, valid, error}...], "errors": [...] | null, "additionalInformation", "fetched": [url...]}
//
// verifier-core fetches what it needs itself (its document loader is not configurable): the
// issuer's did:web document, our status list credentials, and any context it does not bundle.
// This machine reaches no internet, so the global fetch it uses is replaced here:
//   * a did:web on a loopback host resolves to https://127.0.0.1:<port>/…; it is fetched over
//     http from the same address, as a TLS front of that issuer service would serve it;
//   * http://127.0.0.1 and http://localhost (our status lists) pass through;
//   * a context URL we bundle (services/core/contexts) is answered from our copy, and a URL of
//     the documents passed in (the OB 3.0 JSON Schema, from ../shared/reference) from those;
//   * anything else fails, as an unreachable host does.
import {contexts} from './offline_loader.mjs';

// verifier-core logs its own troubles with console.log; stdout is for our answer only.
console.log = console.error;

const chunks = [];
for await (const chunk of process.stdin) {
  chunks.push(chunk);
}
const {credential, documents = {}} = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const realFetch = globalThis.fetch;
const LOOPBACK = /^https:\/\/(127\.0\.0\.1|localhost)(:\d+)?\//;
const PLAIN_LOOPBACK = /^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?\//;
export const fetched = [];

globalThis.fetch = async (input, init) => {
  const request = input instanceof Request ? input : new Request(input, init);
  const url = request.url;
  fetched.push(url);
  const known = contexts.get(url) ?? documents[url];
  if(known !== undefined) {
    return new Response(JSON.stringify(known), {status: 200, headers: {'content-type': 'application/json'}});
  }
  if(LOOPBACK.test(url)) {
    return realFetch(new Request(url.replace(/^https:/, 'http:'), request));
  }
  if(PLAIN_LOOPBACK.test(url)) {
    return realFetch(request);
  }
  throw new TypeError(`fetch failed: ${url} is not reachable from this test (no internet)`);
};

const {verifyCredential} = await import('@digitalcredentials/verifier-core');

const result = await verifyCredential({credential, knownDIDRegistries: []});
const log = (result.log ?? []).map(({id, valid, error}) => ({
  id, valid: valid ?? null, error: error ? {name: error.name, message: error.message} : null
}));
const errors = result.errors ? result.errors.map(({name, message}) => ({name, message})) : null;
process.stdout.write(JSON.stringify({
  log, errors, additionalInformation: result.additionalInformation ?? null, fetched
}));
