// Cross-checks our eddsa-rdfc-2022 with Digital Bazaar's JS stack (what DCC runs).
//
//   node tests/interop/eddsa.mjs <command>   — JSON in on stdin, JSON out on stdout
//
//   verify     {credential}        → {verified, errors}   via @digitalbazaar/vc verifyCredential
//   sign       {credential}        → {credential}         signed by a fresh did:key (issuer.id is set to it)
//   canonize   {documents: [...]}  → {results: [{nquads} | {error}, ...]}   jsonld.js RDFC-1.0, safe mode
//
// The document loader serves only our bundled contexts (services/core/contexts, via its
// index.json) and did:key documents built from the key itself: no network (offline_loader.mjs).
import fs from 'node:fs';

import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import jsonld from 'jsonld';

import {loaderOver} from './offline_loader.mjs';

const documentLoader = loaderOver({});

const suite = () => new DataIntegrityProof({cryptosuite: eddsaRdfc2022});
// Revocation is ours to check, not this script's.
const checkStatus = async () => ({verified: true});

const commands = {
  async verify({credential}) {
    const result = await vc.verifyCredential({credential, suite: suite(), documentLoader, checkStatus});
    const errors = [result.error, ...(result.results ?? []).map(r => r.error)]
      .filter(Boolean).flatMap(e => e.errors ?? [e]).map(e => String(e.message ?? e));
    return {verified: result.verified, errors};
  },
  async sign({credential}) {
    const generated = await Ed25519Multikey.generate();
    const controller = `did:key:${generated.publicKeyMultibase}`;
    const key = await Ed25519Multikey.from({
      ...(await generated.export({publicKey: true, secretKey: true, includeContext: true})),
      controller, id: `${controller}#${generated.publicKeyMultibase}`
    });
    const unsigned = {...credential, issuer: {...credential.issuer, id: controller}};
    const signed = await vc.issue({
      credential: unsigned,
      suite: new DataIntegrityProof({signer: key.signer(), cryptosuite: eddsaRdfc2022}),
      documentLoader
    });
    return {credential: signed};
  },
  async canonize({documents}) {
    const results = [];
    for(const document of documents) {
      try {
        results.push({nquads: await jsonld.canonize(document, {
          algorithm: 'RDFC-1.0', format: 'application/n-quads', documentLoader, safe: true, base: null
        })});
      } catch(e) {
        results.push({error: String(e.details?.event?.code ?? e.message)});
      }
    }
    return {results};
  }
};

const command = commands[process.argv[2]];
if(!command) {
  console.error(`usage: node eddsa.mjs ${Object.keys(commands).join('|')} < input.json`);
  process.exit(2);
}
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(await command(input)));
