"""``microcred`` — the command line.

    microcred verify <url|file> [--rpc URL] [--contract ADDRESS] [--json]

runs the same checks as the verifier with no issuer or registry service: the credential
file (or what its URL serves) and a JSON-RPC endpoint of the chain are all it needs.
Exit status 0 only when the credential is valid.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import typer

from services.core.settings import ServiceSettings

app = typer.Typer(help="microcred: Open Badges 3.0 credentials anchored on Ethereum.", no_args_is_help=True)
_PAGE = re.compile(r"^(https?://.+/c/[A-Za-z0-9_-]+)/?$")
MARKS = {"passed": "✓", "failed": "✗", "pending": "…", "skipped": "-"}


def _load(source: str) -> dict:
    if source.startswith(("http://", "https://")):
        page = _PAGE.match(source)
        url = f"{page.group(1)}/credential.json" if page else source
        r = httpx.get(url, headers={"Accept": "application/ld+json, application/json"}, timeout=15,
                      follow_redirects=True)
        r.raise_for_status()
        if r.content.startswith(b"\x89PNG"):  # a baked badge's URL
            from services.verifier.baking import unbake
            data = unbake(r.content)
        else:
            data = r.json()
    else:
        raw = Path(source).read_bytes()
        if raw.startswith(b"\x89PNG"):
            from services.verifier.baking import unbake
            data = unbake(raw)
        else:
            data = json.loads(raw)
    if not isinstance(data, dict):
        raise typer.BadParameter("that is not a credential (a JSON object)")
    return data


@app.command()
def verify(source: str = typer.Argument(..., help="a credential URL, a credential JSON file or a baked badge PNG"),
           rpc: str = typer.Option(None, "--rpc", help="JSON-RPC endpoint (default: MICROCRED_ETH_RPC_URL)"),
           contract: str = typer.Option(None, "--contract", help="CredentialRegistry address (default: settings)"),
           confirmations: int = typer.Option(1, help="confirmations an anchor needs"),
           as_json: bool = typer.Option(False, "--json", help="print the report as JSON")) -> None:
    """Verify a credential against the chain alone; exit 0 only when it is valid."""
    from services.verifier.checker import verify_offline

    settings = ServiceSettings()
    rpc = rpc or settings.eth_rpc_url
    contract = contract or settings.contract_address
    if not contract:
        raise typer.BadParameter("no contract address: pass --contract or set MICROCRED_CONTRACT_ADDRESS",
                                 param_hint="--contract")
    try:
        credential = _load(source)
    except (OSError, ValueError, httpx.HTTPError) as exc:
        typer.echo(f"cannot read {source}: {exc}", err=True)
        raise typer.Exit(2) from None
    report = asyncio.run(verify_offline(credential, rpc, contract, confirmations))
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        summary = report.credential
        typer.echo(f"{report.status.upper()}: {summary.get('name') or 'credential'}"
                   f" — issued by {summary.get('issuer')}" + (f" to {summary['recipient']}" if summary.get("recipient") else ""))
        for check in report.checks:
            typer.echo(f"  {MARKS[check.status]} {check.id:<10} {check.message}")
        if report.anchor:
            a = report.anchor
            typer.echo(f"  chain {a['chainId']} · contract {a['contract']} · tx {a['txHash']} · block {a['blockNumber']}"
                       f" · {a['confirmations']} confirmations")
    raise typer.Exit(0 if report.verified else 1)


@app.command("deploy-contract")
def deploy_contract(rpc: str = typer.Option(..., "--rpc", help="JSON-RPC endpoint of the target chain")) -> None:
    """Deploy the CredentialRegistry, owned by the account in MICROCRED_OWNER_PRIVATE_KEY; prints its address."""
    import os

    from web3 import HTTPProvider, Web3

    from services.devchain.deploy import deploy_registry

    key = os.environ.get("MICROCRED_OWNER_PRIVATE_KEY")
    if not key:
        typer.echo("set MICROCRED_OWNER_PRIVATE_KEY to the operator's key (it becomes the contract's owner)", err=True)
        raise typer.Exit(2)
    address = deploy_registry(Web3(HTTPProvider(rpc)), key)
    typer.echo(address)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo("microcred 0.1.0")


if __name__ == "__main__":
    app()
