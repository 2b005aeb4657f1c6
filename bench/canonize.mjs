// jsonld.js's RDFC-1.0 (safe mode, our bundled contexts, no network) on the documents given on
// stdin, for bench/canonicalization.py: {documents, rounds} in, {ms: [CPU ms per document, each
// round], wallMs: [the same, elapsed], nquads: [...]} out. CPU time (process.cpuUsage) so a busy
// machine counts less; it includes node's own JIT and GC threads, hence the elapsed time too.
import fs from 'node:fs';

import jsonld from 'jsonld';

import {loaderOver} from '../tests/interop/offline_loader.mjs';

const documentLoader = loaderOver({});
const options = {algorithm: 'RDFC-1.0', format: 'application/n-quads', documentLoader, safe: true, base: null};
const {documents, rounds} = JSON.parse(fs.readFileSync(0, 'utf8'));
const nquads = [];
for(const document of documents) {
  nquads.push(await jsonld.canonize(document, options));  // also warms jsonld.js's context cache
}
// warm-up rounds first (the JIT), then the measured ones
const ms = [];
const wallMs = [];
for(let round = 0; round < rounds + 3; round++) {
  const start = process.cpuUsage();
  const wallStart = performance.now();
  for(const document of documents) {
    await jsonld.canonize(document, options);
  }
  const used = process.cpuUsage(start);
  if(round >= 3) {
    ms.push((used.user + used.system) / 1000 / documents.length);
    wallMs.push((performance.now() - wallStart) / documents.length);
  }
}
process.stdout.write(JSON.stringify({ms, wallMs, nquads}));
