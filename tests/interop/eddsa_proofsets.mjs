// Cross-checks our Data Integrity proof sets and chains with Digital Bazaar's JS stack.
//
//   node tests/interop/eddsa_proofsets.mjs <command>   — JSON in on stdin, JSON out on stdout
//
//   verify  {credential}  → {proofs: [{verified, error}], vcjs: {verified, proofs: [bool]}}
//       proofs: each eddsa-rdfc-2022 proof of the set checked by @digitalbazaar/data-integrity's
//               DataIntegrityProof.verifyProof over the input document of Data Integrity 1.0
//               §4.4: the document without proof, plus as `proof` the proofs its previousProof
//               names (jsonld-signatures 11 has no proof chains of its own, so this script
//               builds that document; hashing and signatures are theirs);
//       vcjs:   @digitalbazaar/vc verifyCredential over the whole set, as a verifier runs it
//               (verified when one proof verifies; per-proof results in set order).
//   sign    {credential, id?, previousProof?}  → {credential}
//       adds an eddsa-rdfc-2022 proof by a fresh did:key (Add Proof Set/Chain, §4.2: the
//       named previous proofs go into the document that is signed).
//   issue   {credential}  → {credential}   @digitalbazaar/vc issue by a fresh did:key
//       (issuer is set to it; the suite adds its context to a document that lacks it).
//
// Contexts come from services/core/contexts (its index.json) and did:key documents are built
// from the key itself: nothing is fetched (offline_loader.mjs).
import fs from 'node:fs';

import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import jsigs from 'jsonld-signatures';

import {loaderOver} from './offline_loader.mjs';

const documentLoader = loaderOver({});

const asList = value => Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];

// Data Integrity 1.0 §4.2 / §4.4: the unsecured document, with the named previous proofs as `proof`.
function inputDocument(document, allProofs, previousProof) {
  const {proof: _ignored, ...input} = document;
  const matching = asList(previousProof).map(id => {
    const found = allProofs.find(p => p.id === id);
    if(!found) {
      throw new Error(`previousProof ${id} names no proof in the document`);
    }
    return found;
  });
  return matching.length ? {...input, proof: matching} : input;
}

async function freshKey() {
  const generated = await Ed25519Multikey.generate();
  const controller = `did:key:${generated.publicKeyMultibase}`;
  return Ed25519Multikey.from({
    ...(await generated.export({publicKey: true, secretKey: true, includeContext: true})),
    controller, id: `${controller}#${generated.publicKeyMultibase}`
  });
}

const {AssertionProofPurpose} = jsigs.purposes;
const checkStatus = async () => ({verified: true});

const commands = {
  async verify({credential}) {
    const allProofs = asList(credential.proof);
    const proofs = [];
    for(const proof of allProofs.filter(p => p.cryptosuite === 'eddsa-rdfc-2022')) {
      try {
        const document = inputDocument(credential, allProofs, proof.previousProof);
        const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022});
        const {verified, error} = await suite.verifyProof({
          proof, document, purpose: new AssertionProofPurpose(), proofSet: allProofs, documentLoader
        });
        proofs.push({verified, error: error ? String(error.message ?? error) : null});
      } catch(e) {
        proofs.push({verified: false, error: String(e.message ?? e)});
      }
    }
    const result = await vc.verifyCredential({
      credential, suite: new DataIntegrityProof({cryptosuite: eddsaRdfc2022}), documentLoader, checkStatus
    });
    return {proofs, vcjs: {verified: result.verified, proofs: (result.results ?? []).map(r => r.verified)}};
  },
  async sign({credential, id, previousProof}) {
    const key = await freshKey();
    const allProofs = asList(credential.proof);
    const suite = new DataIntegrityProof({signer: key.signer(), cryptosuite: eddsaRdfc2022});
    suite.proof = {...(id ? {id} : {}), ...(previousProof ? {previousProof} : {})};
    const proof = await suite.createProof({
      document: inputDocument(credential, allProofs, previousProof), purpose: new AssertionProofPurpose(),
      proofSet: allProofs, documentLoader
    });
    return {credential: {...credential, proof: [...allProofs, proof]}};
  },
  async issue({credential}) {
    const key = await freshKey();
    const signed = await vc.issue({
      credential: {...credential, issuer: key.controller},
      suite: new DataIntegrityProof({signer: key.signer(), cryptosuite: eddsaRdfc2022}),
      documentLoader
    });
    return {credential: signed};
  }
};

const command = commands[process.argv[2]];
if(!command) {
  console.error(`usage: node eddsa_proofsets.mjs ${Object.keys(commands).join('|')} < input.json`);
  process.exit(2);
}
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(await command(input)));
