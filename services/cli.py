"""``microcred`` — the command line.

    microcred verify <url|file> [--rpc URL] [--contract ADDRESS] [--json]

runs the same checks as the verifier with no issuer or registry service: the credential
file (or what its URL serves) and a JSON-RPC endpoint of the chain are all it needs.

Exit status: 0 valid, 1 not valid (invalid, revoked, expired, pending), 2 the input (file, URL,
option) cannot be read or used — always a one-line message on stderr, never a traceback — and 3
the credential cannot be checked right now (the chain did not answer): try again. Every JSON it reads goes through
services.core.safejson, like the verifier's.
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from pathlib import Path

import httpx
import typer

from services.core import safejson
from services.core.settings import ServiceSettings

app = typer.Typer(help="microcred: Open Badges 3.0 credentials anchored on Ethereum.", no_args_is_help=True)
_PAGE = re.compile(r"^(https?://.+/c/[A-Za-z0-9_-]+)/?$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
MARKS = {"passed": "✓", "failed": "✗", "pending": "…", "skipped": "-"}
# Exit statuses. 3 is kept free for "cannot be checked right now" (chain or network down).
EXIT_VALID, EXIT_NOT_VALID, EXIT_BAD_INPUT, EXIT_UNAVAILABLE = 0, 1, 2, 3
MAX_INPUT_BYTES = 16 * 1024 * 1024  # a baked PNG may be large; its JSON is bounded by safejson anyway


class BadInput(ValueError):
    """The input cannot be read or used; the message says why, in one line."""


def _fail(message: str) -> typer.Exit:
    typer.echo(" ".join(message.split())[:500], err=True)  # one line, whatever the message holds
    return typer.Exit(EXIT_BAD_INPUT)


def _shown(value: object) -> object:
    """Text from a credential as it may go to a terminal: no escape sequences, no bidi reordering."""
    if not isinstance(value, str):
        return value
    return "".join("\ufffd" if c in safejson.BIDI_CONTROLS or unicodedata.category(c) in ("Cc", "Cs") else c
                   for c in value)


def _check_url(url: str, what: str) -> str:
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cs") for c in url):
        raise BadInput(f"the {what} contains a control character or whitespace")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise BadInput(f"the {what} is malformed") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise BadInput(f"the {what} must be an http(s) URL")
    return url


def _download(url: str) -> bytes:
    body = bytearray()
    with httpx.stream("GET", url, headers={"Accept": "application/ld+json, application/json"}, timeout=15,
                      follow_redirects=True) as r:
        if r.status_code != 200:
            raise BadInput(f"the URL answered {r.status_code}")
        for part in r.iter_bytes():
            body += part
            if len(body) > MAX_INPUT_BYTES:
                raise BadInput(f"the document is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB")
    return bytes(body)


def _read_file(source: str) -> bytes:
    with Path(source).open("rb") as f:
        raw = f.read(MAX_INPUT_BYTES + 1)
    if len(raw) > MAX_INPUT_BYTES:
        raise BadInput(f"the file is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB")
    return raw


def _load(source: str) -> dict:
    """The credential in ``source`` (a URL, a JSON file, a baked PNG); ``BadInput`` or ``OSError`` if none."""
    if source.startswith(("http://", "https://")):
        _check_url(source, "URL")
        page = _PAGE.match(source)
        raw = _download(f"{page.group(1)}/credential.json" if page else source)
    else:
        raw = _read_file(source)
    try:
        if raw.startswith(b"\x89PNG"):  # a baked badge
            from services.core.baking import BakingError, unbake
            try:
                data = safejson.check(unbake(raw))
            except BakingError as exc:
                raise BadInput(str(exc)) from None
        else:
            data = safejson.loads(raw)
    except safejson.UnsafeJSON as exc:
        raise BadInput(exc.message) from None
    if not isinstance(data, dict):
        raise BadInput("that is not a credential (a JSON object)")
    return data


@app.command()
def verify(source: str = typer.Argument(..., help="a credential URL, a credential JSON file or a baked badge PNG"),
           rpc: str = typer.Option(None, "--rpc", help="JSON-RPC endpoint (default: MICROCRED_ETH_RPC_URL)"),
           contract: str = typer.Option(None, "--contract", help="CredentialRegistry address (default: settings)"),
           confirmations: int = typer.Option(1, help="confirmations an anchor needs"),
           as_json: bool = typer.Option(False, "--json", help="print the report as JSON")) -> None:
    """Verify a credential against the chain alone; exit 0 only when it is valid."""
    from services.verifier.checker import verify_offline

    try:
        settings = ServiceSettings()
    except ValueError as exc:  # pydantic's ValidationError: a malformed MICROCRED_* variable
        raise _fail(f"cannot read the settings: {exc}") from None
    rpc = rpc or settings.eth_rpc_url
    contract = contract or settings.contract_address
    if not contract:
        raise _fail("no contract address: pass --contract or set MICROCRED_CONTRACT_ADDRESS")
    if not _ADDRESS.match(contract):
        raise _fail("the contract address must be 0x followed by 40 hex digits")
    if confirmations < 1:
        raise _fail("--confirmations must be at least 1")
    try:
        _check_url(rpc, "RPC URL")
    except BadInput as exc:
        raise _fail(f"--rpc: {exc}") from None
    if not source.strip():
        raise _fail("give a credential URL, a credential JSON file or a baked badge PNG")
    shown = repr(source) if any(not c.isprintable() for c in source) else source
    try:
        credential = _load(source)
    except BadInput as exc:
        raise _fail(f"cannot read {shown}: {exc}") from None
    except OSError as exc:
        raise _fail(f"cannot read {shown}: {exc.strerror or exc}") from None
    except ValueError as exc:  # e.g. a NUL in a file name
        raise _fail(f"cannot read {shown}: {exc}") from None
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise _fail(f"cannot read {shown}: {type(exc).__name__}: {exc}") from None
    report = asyncio.run(verify_offline(credential, rpc, contract, confirmations))
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        summary = {k: _shown(v) for k, v in report.credential.items()}  # the credential's text is hostile
        typer.echo(f"{report.status.upper()}: {summary.get('name') or 'credential'}"
                   f" — issued by {summary.get('issuer')}" + (f" to {summary['recipient']}" if summary.get("recipient") else ""))
        for check in report.checks:
            typer.echo(f"  {MARKS[check.status]} {check.id:<10} {_shown(check.message)}")
        if report.anchor:
            a = report.anchor
            typer.echo(f"  chain {a['chainId']} · contract {a['contract']} · tx {a['txHash']} · block {a['blockNumber']}"
                       f" · {a['confirmations']} confirmations")
    if report.status == "unavailable":
        raise typer.Exit(EXIT_UNAVAILABLE)
    raise typer.Exit(EXIT_VALID if report.verified else EXIT_NOT_VALID)


@app.command("deploy-contract")
def deploy_contract(rpc: str = typer.Option(..., "--rpc", help="JSON-RPC endpoint of the target chain")) -> None:
    """Deploy the CredentialRegistry, owned by the account in MICROCRED_OWNER_PRIVATE_KEY; prints its address
    (and, on standard error, the block it was deployed in, for the verifier's MICROCRED_REVOCATIONS_FROM_BLOCK)."""
    import os

    from web3 import HTTPProvider, Web3

    from services.devchain.deploy import deploy_registry_in_block

    key = os.environ.get("MICROCRED_OWNER_PRIVATE_KEY")
    if not key:
        typer.echo("set MICROCRED_OWNER_PRIVATE_KEY to the operator's key (it becomes the contract's owner)", err=True)
        raise typer.Exit(2)
    address, block = deploy_registry_in_block(Web3(HTTPProvider(rpc)), key)
    typer.echo(address)
    typer.echo(f"deployed in block {block}: set MICROCRED_CONTRACT_ADDRESS={address} everywhere and "
               f"MICROCRED_REVOCATIONS_FROM_BLOCK={block} for the verifiers", err=True)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo("microcred 0.1.0")


if __name__ == "__main__":
    app()
