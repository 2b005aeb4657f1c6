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
// cancun: anvil 1.7 runs prague by default and executes cancun code unchanged; most EVM chains
// in service today accept cancun too.
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
  remappings: ["@openzeppelin/=node_modules/@openzeppelin/"],
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};
// Imports resolve only inside these folders of the repository.
const IMPORT_ROOTS = ["contracts/", "node_modules/@openzeppelin/"];

function findImport(importPath) {
  const rel = path.posix.normalize(importPath);
  if (!IMPORT_ROOTS.some((prefix) => rel.startsWith(prefix))) return { error: `import outside ${IMPORT_ROOTS}: ${importPath}` };
  const file = path.join(ROOT, rel);
  if (!fs.existsSync(file)) return { error: `not found: ${importPath} (run npm ci)` };
  return { contents: fs.readFileSync(file, "utf8") };
}

const sha256 = (text) => crypto.createHash("sha256").update(text).digest("hex");

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k])]));
  }
  return value;
}

function compile() {
  const sources = {};
  for (const rel of SOURCES) sources[rel] = { content: fs.readFileSync(path.join(ROOT, rel), "utf8") };
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
  const diagnostics = output.errors || [];
  for (const e of diagnostics) console.error(e.formattedMessage);
  if (diagnostics.some((e) => e.severity === "error")) process.exit(2);
  // sha256 of every source unit that went in: ours and the OpenZeppelin files they import.
  const sourceHashes = {};
  for (const unit of Object.keys(output.sources)) {
    sourceHashes[unit] = sha256(fs.readFileSync(path.join(ROOT, unit), "utf8"));
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
