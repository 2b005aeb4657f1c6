"""A credential issued through our API verifies with Digital Bazaar's @digitalbazaar/vc (run by Node).

It resolves the issuer's did:web verification method from the DID document our issuer
serves (handed to the JS document loader, no network), before and after the ledger-anchor
proof joins the proof set; and a tampered copy fails there too.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.integration.issuer_support import anchor_everything, create_achievement, create_issuer, issue, issuer_client
from tests.support.node import require_packages

REPO = Path(__file__).resolve().parents[2]
NODE_PACKAGES = ("@digitalbazaar/vc", "@digitalbazaar/data-integrity", "@digitalbazaar/eddsa-rdfc-2022-cryptosuite")

require_packages(*NODE_PACKAGES)

VERIFY_JS = r"""
import fs from 'node:fs';
import path from 'node:path';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const dir = path.resolve('services/core/contexts');
const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
const docs = new Map(Object.entries(index).map(([u, f]) => [u, JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))]));
for(const [u, d] of Object.entries(input.documents)) docs.set(u, d);
const documentLoader = async url => {
  if(!docs.has(url)) throw new Error(`not available offline: ${url}`);
  return {contextUrl: null, documentUrl: url, document: structuredClone(docs.get(url))};
};
const result = await vc.verifyCredential({
  credential: input.credential, suite: new DataIntegrityProof({cryptosuite}), documentLoader,
  checkStatus: async () => ({verified: true})});
const errors = [];
const walk = r => { if(!r) return; if(r.error) errors.push(String(r.error.message || r.error));
  (r.results || []).forEach(walk); };
walk(result);
process.stdout.write(JSON.stringify({verified: result.verified, errors}));
"""


def verify_with_digital_bazaar(credential: dict, did_document: dict) -> dict:
    documents = {did_document["id"]: did_document}
    for method in did_document["verificationMethod"]:
        documents[method["id"]] = {"@context": "https://w3id.org/security/multikey/v1", **method}
    run = subprocess.run(["node", "--input-type=module", "-e", VERIFY_JS], cwd=REPO, capture_output=True, text=True,
                         input=json.dumps({"credential": credential, "documents": documents}), timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_issued_credentials_verify_with_digital_bazaar_before_and_after_anchoring(sqlite_url, tmp_path):
    with issuer_client(sqlite_url, tmp_path) as client:
        issuer = create_issuer(client)
        achievement = create_achievement(client, issuer["api_key"])
        body = issue(client, issuer["api_key"], achievement["id"],
                     evidence=[{"id": "https://example.org/portfolio", "narrative": "Portfolio review."}])
        did = client.get("/issuers/lakeside/did.json").json()
        pending = body["credential"]
        result = verify_with_digital_bazaar(pending, did)
        assert result["verified"], result["errors"]

        anchor_everything(client)
        anchored = client.get(f"/public/credentials/{body['id']}").json()
        assert len(anchored["proof"]) == 2
        result = verify_with_digital_bazaar(anchored, did)
        assert result["verified"], result["errors"]

        tampered = json.loads(json.dumps(anchored))
        tampered["credentialSubject"]["name"] = "Mallory"
        assert not verify_with_digital_bazaar(tampered, did)["verified"]
