// W3C Bitstring Status List checked (and made) by independent code: Digital Bazaar's
// @digitalbazaar/vc + data-integrity + eddsa-rdfc-2022 + vc-bitstring-status-list.
//
//   node tests/interop/bitstring_status.mjs <command>   — JSON in on stdin, JSON out on stdout
//
//   verify  {credential, documents: {url: document}}
//           → {verified, errors, status: {revocation: bool, suspension: bool, …},
//              statusResult: {verified, results: [{purpose, index, list, verified, status}]}}
//     @digitalbazaar/vc verifyCredential with the eddsa-rdfc-2022 cryptosuite and
//     vc-bitstring-status-list's checkStatus (each BitstringStatusListCredential is loaded,
//     its signature verified, its issuer matched with the credential's, and the bit read).
//     `verified` is vc's own verdict: a *readable* status counts as verified even when the bit is
//     set (as the library defines it); `status` says, per statusPurpose, whether the bit is set.
//     `documents` are what the caller fetched beforehand: the DID document and its verification
//     methods, and the status list credentials, by URL.
//
//   issue   {listBase: "http://127.0.0.1:…/lists", credentialUrl?}
//           → {did, credential, entries: {purpose: {index, url}},
//              lists: {purpose: {clear: listCredential, set: listCredential}}}
//     An Open Badges 3.0 credential issued by a fresh did:key, as another platform would, with a
//     revocation and a suspension BitstringStatusListEntry (random indices) into two lists at
//     `${listBase}/revocation` and `${listBase}/suspension`; each list is signed twice by the same
//     key, once with the credential's bit clear and once with it set, so the caller can serve
//     either.
//
// The document loader serves only our bundled contexts (services/core/contexts/index.json),
// did:key documents built from the key, and the documents passed in: no network
// (offline_loader.mjs).
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {checkStatus, createCredential, createList} from '@digitalbazaar/vc-bitstring-status-list';

import {loaderOver} from './offline_loader.mjs';

const VC2 = 'https://www.w3.org/ns/credentials/v2';
const OB303 = 'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json';
const LIST_LENGTH = 131072;  // the specification's minimum (16 KiB)

const suite = () => new DataIntegrityProof({cryptosuite: eddsaRdfc2022});

function messages(error) {
  if(!error) {
    return [];
  }
  const nested = Array.isArray(error.errors) ? error.errors.flatMap(messages) : [];
  const own = String(error.message ?? error);
  const cause = error.cause ? messages(error.cause) : [];
  return [own, ...nested, ...cause];
}

async function verify({credential, documents}) {
  const documentLoader = loaderOver(documents);
  const result = await vc.verifyCredential({credential, suite: suite(), documentLoader, checkStatus});
  const errors = [];
  const walk = r => {
    if(!r) return;
    errors.push(...messages(r.error));
    (r.results ?? []).forEach(walk);
  };
  walk(result);
  const statusResult = result.statusResult ?? null;
  if(statusResult?.error) {
    errors.push(...messages(statusResult.error));
  }
  const results = (statusResult?.results ?? []).map(r => ({
    purpose: r.credentialStatus?.statusPurpose ?? null,
    index: r.credentialStatus?.statusListIndex ?? null,
    list: r.credentialStatus?.statusListCredential ?? null,
    verified: r.verified === true,
    status: r.status
  }));
  const status = {};
  for(const r of results) {
    status[r.purpose] = (status[r.purpose] ?? false) || r.status === true;
  }
  return {
    verified: result.verified === true,
    errors: [...new Set(errors)],
    status,
    statusResult: statusResult && {verified: statusResult.verified === true, results}
  };
}

async function issue({listBase, credentialUrl}) {
  if(typeof listBase !== 'string' || !/^https?:\/\//.test(listBase)) {
    throw new Error('issue needs {"listBase": "http(s)://…"}');
  }
  const generated = await Ed25519Multikey.generate();
  const did = `did:key:${generated.publicKeyMultibase}`;
  const key = await Ed25519Multikey.from({
    ...(await generated.export({publicKey: true, secretKey: true, includeContext: true})),
    controller: did, id: `${did}#${generated.publicKeyMultibase}`
  });
  const sign = credential => vc.issue({
    credential,
    suite: new DataIntegrityProof({signer: key.signer(), cryptosuite: eddsaRdfc2022}),
    documentLoader: loaderOver({})
  });

  const entries = {};
  const lists = {};
  const validFrom = new Date(Date.now() - 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  for(const purpose of ['revocation', 'suspension']) {
    const url = `${listBase.replace(/\/$/, '')}/${purpose}`;
    const bit = crypto.randomInt(LIST_LENGTH);
    entries[purpose] = {index: bit, url};
    lists[purpose] = {};
    for(const [state, value] of [['clear', false], ['set', true]]) {
      const list = await createList({length: LIST_LENGTH});
      list.setStatus(bit, value);
      const unsigned = await createCredential({id: url, list, statusPurpose: purpose});
      lists[purpose][state] = await sign({...unsigned, issuer: did, validFrom});
    }
  }

  const serial = crypto.randomUUID();
  const credential = await sign({
    '@context': [VC2, OB303],
    id: credentialUrl ?? `urn:uuid:${serial}`,
    type: ['VerifiableCredential', 'OpenBadgeCredential'],
    name: 'Drone Operations',
    issuer: {id: did, type: ['Profile'], name: 'Key Academy', url: 'https://badges.other.example'},
    validFrom,
    credentialSubject: {
      type: ['AchievementSubject'],
      name: 'Grace Learner',
      achievement: {
        id: 'https://badges.other.example/achievements/drone-ops',
        type: ['Achievement'],
        name: 'Drone Operations',
        description: 'Plans and flies survey missions within the rules of the air.',
        criteria: {narrative: 'Passed the practical flight test and the written exam.'}
      }
    },
    credentialStatus: Object.entries(entries).map(([purpose, {index, url}]) => ({
      id: `${url}#${index}`,
      type: 'BitstringStatusListEntry',
      statusPurpose: purpose,
      statusListIndex: String(index),
      statusListCredential: url
    }))
  });
  return {did, credential, entries, lists};
}

const commands = {verify, issue};
const command = commands[process.argv[2]];
if(!command) {
  console.error(`usage: node ${path.basename(process.argv[1])} verify|issue  (JSON on stdin)`);
  process.exit(2);
}
const output = await command(JSON.parse(fs.readFileSync(0, 'utf8')));
process.stdout.write(JSON.stringify(output));
