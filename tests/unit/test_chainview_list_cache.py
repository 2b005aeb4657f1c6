"""ChainView keeps a status list's latest hash for a second at most, and a credential's revokedAt not at all.

Against a real HTTP JSON-RPC server on loopback that answers ``eth_call`` with ABI words and
counts what it was asked (the selector of each call).
"""

from __future__ import annotations

import asyncio
import time

import orjson
from eth_utils import function_signature_to_4byte_selector

from services.verifier import chainview
from services.verifier.chainview import ChainView

LIST_OF = "0x" + function_signature_to_4byte_selector("statusListOf(address,bytes32)").hex()
REVOKED_AT = "0x" + function_signature_to_4byte_selector("revokedAt(address,bytes32)").hex()
ACCOUNT = "0x" + "12" * 20
CONTRACT = "0x" + "ab" * 20


class RpcServer:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.list_hash = b"\x01" * 32

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
            batch = orjson.loads(await reader.readexactly(length))
            answers = []
            for request in batch:
                data = request["params"][0]["data"]
                self.calls.append(data[:10])
                if data.startswith(LIST_OF):
                    result = self.list_hash + (7).to_bytes(32, "big")
                else:
                    result = (0).to_bytes(32, "big")
                answers.append({"jsonrpc": "2.0", "id": request["id"], "result": "0x" + result.hex()})
            body = orjson.dumps(answers)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()


def test_a_list_hash_is_read_once_a_second_and_revocation_every_time(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(chainview.time, "monotonic", lambda: clock[0])

    async def main():
        rpc = RpcServer()
        server = await asyncio.start_server(rpc.handle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        view = ChainView(url, CONTRACT)
        lists = (b"\x0a" * 32, b"\x0b" * 32)

        async def read(credential_hash: str) -> list:
            return await view.read_for_verification(account=ACCOUNT, credential_hash=credential_hash,
                                                    issuer_record=False, status_lists=lists)

        first = await read("0x" + "01" * 32)
        clock[0] += 0.5
        second = await read("0x" + "02" * 32)  # another credential of the same lists, half a second on
        rpc.list_hash = b"\x02" * 32  # the issuer publishes a new version
        clock[0] += 0.6
        third = await read("0x" + "03" * 32)  # more than a second after the lists were read
        await view.aclose()
        server.close()
        await server.wait_closed()
        return rpc.calls, first, second, third

    calls, first, second, third = asyncio.run(main())
    assert calls == [REVOKED_AT, LIST_OF, LIST_OF, REVOKED_AT, REVOKED_AT, LIST_OF, LIST_OF]
    assert first == second == [0, b"\x01" * 32, b"\x01" * 32]
    assert third == [0, b"\x02" * 32, b"\x02" * 32]  # the new version shows once the second is over


def test_the_cache_keeps_lists_of_other_accounts_apart(monkeypatch):
    monkeypatch.setattr(chainview.time, "monotonic", lambda: 5.0)

    async def main():
        rpc = RpcServer()
        server = await asyncio.start_server(rpc.handle, "127.0.0.1", 0)
        view = ChainView(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", CONTRACT)
        list_id = (b"\x0a" * 32,)
        await view.read_for_verification(account=ACCOUNT, issuer_record=False, status_lists=list_id)
        await view.read_for_verification(account="0x" + "34" * 20, issuer_record=False, status_lists=list_id)
        await view.aclose()
        server.close()
        await server.wait_closed()
        return rpc.calls

    assert asyncio.run(main()) == [LIST_OF, LIST_OF]
