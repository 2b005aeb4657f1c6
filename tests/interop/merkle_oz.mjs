// Cross-checks our Merkle trees (services/core/merkle.py) with @openzeppelin/merkle-tree.
//
//   node tests/interop/merkle_oz.mjs   — JSON in on stdin, JSON out on stdout
//
//   in:  {trees: [{values: [bytes32 hex, ...], proofs: [[bytes32 hex, ...], ...]}, ...]}
//          proofs[i] is *our* proof for values[i]; it may be tampered with on purpose.
//   out: {trees: [{root, proofs: [[hex, ...], ...], verified: [bool, ...]}, ...]}
//          root      StandardMerkleTree.of(values.map(v => [v]), ["bytes32"]).root
//          proofs    OpenZeppelin's own proof for each value (tree.getProof(i))
//          verified  StandardMerkleTree.verify(root, ["bytes32"], [values[i]], proofs[i]) for our proofs,
//                    with `root` taken from the input when it gives one (else OpenZeppelin's)
import fs from 'node:fs';
import {StandardMerkleTree} from '@openzeppelin/merkle-tree';

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const trees = input.trees.map(({values, proofs, root}) => {
  const tree = StandardMerkleTree.of(values.map((v) => [v]), ['bytes32']);
  const against = root ?? tree.root;
  return {
    root: tree.root,
    proofs: values.map((_, i) => tree.getProof(i)),
    verified: values.map((v, i) => {
      try {
        return StandardMerkleTree.verify(against, ['bytes32'], [v], proofs[i]);
      } catch {
        return false;  // a malformed proof element is a failed verification, as on chain
      }
    }),
  };
});
process.stdout.write(JSON.stringify({trees}));
