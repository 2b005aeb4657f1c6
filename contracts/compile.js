// Compile contracts/ with npm solc into services/core/contract/CredentialRegistry.json.
//   node contracts/compile.js           write the artifact
//   node contracts/compile.js --check   exit 1 if the committed artifact differs from a fresh compile
"use strict";
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const solc = require("solc");

const ROOT = path.resolve(__dirname, "..");
const SOURCES = ["contracts/ICredentialRegistry.sol", "contracts/CredentialRegistry.sol"];
const ARTIFACT = path.join(ROOT, "services/core/contract/CredentialRegistry.json");
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

function findImport(importPath) {
  const candidates = [path.join(ROOT, importPath), path.join(ROOT, "node_modules", importPath)];
  for (const file of candidates) {
    if (fs.existsSync(file)) return { contents: fs.readFileSync(file, "utf8") };
  }
  return { error: `not found: ${importPath}` };
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k])]));
  }
  return value;
}

function compile() {
  const sources = {};
  const sourceHashes = {};
  for (const rel of SOURCES) {
    const text = fs.readFileSync(path.join(ROOT, rel), "utf8");
    sources[rel] = { content: text };
    sourceHashes[rel] = crypto.createHash("sha256").update(text).digest("hex");
  }
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  if (errors.length) {
    for (const e of errors) console.error(e.formattedMessage);
    process.exit(2);
  }
  const contract = output.contracts["contracts/CredentialRegistry.sol"].CredentialRegistry;
  const artifact = sortKeys({
    contractName: "CredentialRegistry",
    abi: contract.abi,
    bytecode: "0x" + contract.evm.bytecode.object,
    deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
    compiler: { name: "solc-js", version: solc.version(), settings: SETTINGS },
    sources: sourceHashes,
  });
  return JSON.stringify(artifact, null, 2) + "\n";
}

const fresh = compile();
if (process.argv.includes("--check")) {
  const committed = fs.existsSync(ARTIFACT) ? fs.readFileSync(ARTIFACT, "utf8") : "";
  if (committed !== fresh) {
    console.error(`${path.relative(ROOT, ARTIFACT)} does not match a fresh compile of contracts/: run \`make compile\``);
    process.exit(1);
  }
  console.log("artifact matches the sources");
} else {
  fs.mkdirSync(path.dirname(ARTIFACT), { recursive: true });
  fs.writeFileSync(ARTIFACT, fresh);
  console.log(`wrote ${path.relative(ROOT, ARTIFACT)}`);
}
