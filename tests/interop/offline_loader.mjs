// The offline JSON-LD document loader the interop scripts share (eddsa.mjs, eddsa_proofsets.mjs,
// third_party.mjs, bitstring_status.mjs).
//
//   contexts              our bundled contexts (services/core/contexts, via its index.json), by URL
//   didKeyDocument(url)   the DID document (or, with a #fragment, the verification method) of an
//                         Ed25519 did:key, built from the key itself
//   loaderOver(documents) a documentLoader serving, in this order, the bundled contexts, the
//                         documents passed in ({url: document}, or a Map), and did:key documents;
//                         anything else throws: no network, ever.
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const contextsDir = path.resolve(here, '../../services/core/contexts');
const index = JSON.parse(fs.readFileSync(path.join(contextsDir, 'index.json'), 'utf8'));
export const contexts = new Map(Object.entries(index).map(
  ([url, file]) => [url, JSON.parse(fs.readFileSync(path.join(contextsDir, file), 'utf8'))]));

const MULTIKEY_CONTEXT = 'https://w3id.org/security/multikey/v1';

export function didKeyDocument(url) {
  const [did, fragment] = url.split('#');
  const multibase = did.slice('did:key:'.length);
  if(!multibase.startsWith('z6Mk') || (fragment !== undefined && fragment !== multibase)) {
    throw new Error(`not an Ed25519 did:key: ${url}`);
  }
  const id = `${did}#${multibase}`;
  const method = {id, type: 'Multikey', controller: did, publicKeyMultibase: multibase};
  if(fragment !== undefined) {
    return {'@context': MULTIKEY_CONTEXT, ...method};
  }
  return {
    '@context': ['https://www.w3.org/ns/did/v1', MULTIKEY_CONTEXT], id: did,
    verificationMethod: [method], assertionMethod: [id], authentication: [id]
  };
}

// A plain object is copied when the loader is made; a Map is read at each load, so documents
// set on it afterwards are served too (third_party.mjs makes its did:web document after it has
// already signed with the loader). Passed documents are looked up before did:key, so a caller's
// own copy of a did:key document (bitstring_status.mjs verify may pass one) is the one served.
export function loaderOver(documents) {
  const passed = documents instanceof Map ? documents : new Map(Object.entries(documents ?? {}));
  return async url => {
    if(contexts.has(url)) {
      return {contextUrl: null, documentUrl: url, document: structuredClone(contexts.get(url))};
    }
    if(passed.has(url)) {
      return {contextUrl: null, documentUrl: url, document: structuredClone(passed.get(url))};
    }
    if(url.startsWith('did:key:')) {
      return {contextUrl: null, documentUrl: url, document: didKeyDocument(url)};
    }
    throw new Error(`document not available offline: ${url}`);
  };
}
