"""The committed contract artifact is a fresh compile of contracts/, and carries the whole interface."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from services.core.contract import ABI, decode_custom_error, error_selectors

REPO = Path(__file__).resolve().parents[2]
INTERFACE = REPO / "contracts" / "ICredentialRegistry.sol"


def interface_names(kind: str) -> set[str]:
    """Names of every ``function``/``event``/``error`` declared in the interface file (comments removed)."""
    source = re.sub(r"//[^\n]*|/\*.*?\*/", "", INTERFACE.read_text(), flags=re.S)
    return set(re.findall(rf"\b{kind}\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(", source))


def abi_names(kind: str) -> set[str]:
    return {entry["name"] for entry in ABI if entry["type"] == kind}


def test_the_committed_artifact_matches_a_fresh_compile():
    if shutil.which("node") is None:
        pytest.skip("node is not installed: cannot run contracts/compile.js --check")
    if not (REPO / "node_modules" / "solc").is_dir() or not (REPO / "node_modules" / "@openzeppelin" / "contracts").is_dir():
        pytest.skip("node_modules lacks solc or @openzeppelin/contracts (run npm ci)")
    run = subprocess.run(["node", "contracts/compile.js", "--check"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("kind", ["function", "event", "error"])
def test_the_abi_has_everything_the_interface_declares(kind):
    declared = interface_names(kind)
    assert len(declared) >= 5, f"parsed too few {kind}s from {INTERFACE.name}: {declared}"
    assert declared <= abi_names(kind), f"missing from the ABI: {sorted(declared - abi_names(kind))}"


def test_the_interface_is_parsed_completely():
    # a guard on the regex: the surface docs/contract.md describes is all there
    assert {"registerIssuer", "setIssuerActive", "addKey", "retireKey", "anchorRoot", "revoke", "revokeBatch",
            "issuer", "issuerKeys", "keyValidAt", "anchorOf", "revokedAt", "verifyInclusion"} <= interface_names("function")
    assert {"RootAnchored", "CredentialRevoked", "IssuerRegistered", "KeyAdded", "KeyRetired",
            "IssuerActiveChanged"} <= interface_names("event")


def test_every_error_of_the_interface_and_ownable_decodes_by_selector():
    names = {name for name, _ in error_selectors().values()}
    assert interface_names("error") | {"OwnableUnauthorizedAccount"} <= names
    # EmptyRoot() has no arguments: its selector alone is the revert data
    selector = next(sel for sel, (name, _) in error_selectors().items() if name == "EmptyRoot")
    assert decode_custom_error("0x" + selector.hex()) == ("EmptyRoot", ())
    assert decode_custom_error("0xdeadbeef") is None
