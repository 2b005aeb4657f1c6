// Open Badges 3.0 credentials as another platform would issue them, made by independent code:
// Digital Bazaar's @digitalbazaar/vc + data-integrity + eddsa-rdfc-2022 + ed25519-multikey.
//
//   node tests/interop/third_party.mjs   — JSON in on stdin, JSON out on stdout
//
//   in:  {didWeb: "did:web:…"}   the did:web the issuer will be (the test serves its document)
//   out: {didKey: {did, credentials: {name: credential}},
//         didWeb: {did, didDocument, credentials: {name: credential}},
//         jsVerified: {"didKey.name" | "didWeb.name": {verified, errors}}}
//
// Credentials (VC 2.0, fresh keys every run, nothing saved):
//   didKey.plain           [VC 2.0, OB 3.0.3], OpenBadgeCredential, no status
//   didKey.revocationList  [VC 2.0, OB 3.0.3, OB extensions], credentialStatus 1EdTechRevocationList
//   didWeb.plain           [VC 2.0, OB 3.0.2], AchievementCredential, signed by #key-1 (Multikey)
//   didWeb.revocationList  [VC 2.0, OB 3.0.3, OB extensions], 1EdTechRevocationList, #key-1
//   didWeb.jwk             [VC 2.0, OB 3.0.3], signed by #key-2 (a JsonWebKey, OKP Ed25519)
//   didWeb.authOnly        signed by #auth, a key the document lists for authentication only:
//                          no verifier may accept it for a credential
// jsVerified is @digitalbazaar/vc verifyCredential's verdict on each (status not checked).
//
// The document loader serves only our bundled contexts (services/core/contexts/index.json),
// did:key documents built from the key, and the did:web document above: no network
// (offline_loader.mjs).
import fs from 'node:fs';
import crypto from 'node:crypto';

import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';

import {loaderOver} from './offline_loader.mjs';

const VC2 = 'https://www.w3.org/ns/credentials/v2';
const OB = 'https://purl.imsglobal.org/spec/ob/v3p0/';
const OB303 = `${OB}context-3.0.3.json`;
const OB302 = `${OB}context-3.0.2.json`;
const EXTENSIONS = `${OB}extensions.json`;
const MULTIKEY_CONTEXT = 'https://w3id.org/security/multikey/v1';

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const webDid = input.didWeb;
if(typeof webDid !== 'string' || !webDid.startsWith('did:web:')) {
  console.error('input must be {"didWeb": "did:web:…"}');
  process.exit(2);
}

const webDocuments = new Map();  // the did:web document and each of its methods, by id
const documentLoader = loaderOver(webDocuments);  // a Map: read at each load, filled in below

// A fresh key pair; `controller` null: a did:key of its own (did:key:z…#z…).
async function keyFor(controller, id) {
  const generated = await Ed25519Multikey.generate();
  controller ??= `did:key:${generated.publicKeyMultibase}`;
  return Ed25519Multikey.from({
    ...(await generated.export({publicKey: true, secretKey: true, includeContext: true})),
    controller, id: id ?? `${controller}#${generated.publicKeyMultibase}`
  });
}

function credential({issuer, context, type = 'OpenBadgeCredential', status = false, platform}) {
  const serial = crypto.randomUUID();
  return {
    '@context': context,
    id: `urn:uuid:${serial}`,
    type: ['VerifiableCredential', type],
    name: 'Drone Operations',
    issuer: {id: issuer, type: ['Profile'], name: platform, url: 'https://badges.other.example'},
    validFrom: '2026-10-01T09:00:00Z',
    validUntil: '2031-10-01T09:00:00Z',
    credentialSubject: {
      type: ['AchievementSubject'],
      name: 'Grace Learner',
      identifier: [{
        type: 'IdentityObject', identityType: 'emailAddress', hashed: true,
        identityHash: 'sha256$' + crypto.createHash('sha256').update('grace@example.org' + serial).digest('hex'),
        salt: serial
      }],
      achievement: {
        id: 'https://badges.other.example/achievements/drone-ops',
        type: ['Achievement'],
        name: 'Drone Operations',
        description: 'Plans and flies survey missions within the rules of the air.',
        criteria: {narrative: 'Passed the practical flight test and the written exam.'},
        tag: ['drones', 'aviation']
      }
    },
    ...(status ? {credentialStatus: {
      id: `https://badges.other.example/revocations/${serial}`, type: '1EdTechRevocationList'
    }} : {})
  };
}

async function sign(unsigned, key) {
  return vc.issue({
    credential: unsigned,
    suite: new DataIntegrityProof({signer: key.signer(), cryptosuite: eddsaRdfc2022}),
    documentLoader
  });
}

// (a) a did:key issuer
const didKeyKey = await keyFor(null);
const keyDid = didKeyKey.controller;
const didKey = {
  did: keyDid,
  credentials: {
    plain: await sign(credential({issuer: keyDid, context: [VC2, OB303], platform: 'Key Academy'}), didKeyKey),
    revocationList: await sign(credential({
      issuer: keyDid, context: [VC2, OB303, EXTENSIONS], status: true, platform: 'Key Academy'
    }), didKeyKey)
  }
};

// (b) a did:web issuer: a Multikey, a JsonWebKey and an authentication-only key
const key1 = await keyFor(webDid, `${webDid}#key-1`);
const key2 = await keyFor(webDid, `${webDid}#key-2`);
const authKey = await keyFor(webDid, `${webDid}#auth`);
const methods = [
  {id: key1.id, type: 'Multikey', controller: webDid, publicKeyMultibase: key1.publicKeyMultibase},
  {id: key2.id, type: 'JsonWebKey', controller: webDid,
    publicKeyJwk: await Ed25519Multikey.toJwk({keyPair: key2})},
  {id: authKey.id, type: 'Multikey', controller: webDid, publicKeyMultibase: authKey.publicKeyMultibase}
];
const didDocument = {
  '@context': ['https://www.w3.org/ns/did/v1', MULTIKEY_CONTEXT, 'https://w3id.org/security/jwk/v1'],
  id: webDid,
  verificationMethod: methods,
  assertionMethod: [key1.id, key2.id],  // absolute: DB's verifier does not resolve "#key-2"
  authentication: [authKey.id]
};
webDocuments.set(webDid, didDocument);
for(const method of methods) {
  webDocuments.set(method.id, {'@context': MULTIKEY_CONTEXT, ...method});
}
const web = (options) => credential({issuer: webDid, platform: 'Web Institute', ...options});
const didWeb = {
  did: webDid,
  didDocument,
  credentials: {
    plain: await sign(web({context: [VC2, OB302], type: 'AchievementCredential'}), key1),
    revocationList: await sign(web({context: [VC2, OB303, EXTENSIONS], status: true}), key1),
    jwk: await sign(web({context: [VC2, OB303]}), key2),
    authOnly: await sign(web({context: [VC2, OB303]}), authKey)
  }
};

const jsVerified = {};
for(const [issuerName, issuer] of Object.entries({didKey, didWeb})) {
  for(const [name, signed] of Object.entries(issuer.credentials)) {
    const result = await vc.verifyCredential({
      credential: signed, suite: new DataIntegrityProof({cryptosuite: eddsaRdfc2022}), documentLoader,
      checkStatus: async () => ({verified: true})
    });
    const errors = [];
    const walk = r => {
      if(!r) return;
      if(r.error) errors.push(...(r.error.errors ?? [r.error]).map(e => String(e.message ?? e)));
      (r.results ?? []).forEach(walk);
    };
    walk(result);
    jsVerified[`${issuerName}.${name}`] = {verified: result.verified, errors};
  }
}

process.stdout.write(JSON.stringify({didKey, didWeb, jsVerified}));
