"""The stack most e2e modules share (see tests/support/stack.py for what a test on it may do).

The modules that use it run first (in their usual order), and it is stopped as soon as the last
of their tests is done: idle, its five processes still poll, which would slow every later
module on a small machine.
"""

from __future__ import annotations

import pytest

from tests.support.stack import SHARED_ENV, SHARED_SERVICES, Stack, make_stack

_running: list[Stack] = []  # the shared stack while it runs
_last_user: list[str] = []  # the node id of the last test that uses it


def _uses_shared_stack(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)  # pytest's resolved fixtures of the test
    defs = info.name2fixturedefs.get("stack") if info else None
    return bool(defs) and defs[-1].func.__module__ == __name__


def pytest_collection_modifyitems(session, config, items):
    """Within the e2e tests: modules on the shared stack first, each module's tests kept together."""
    e2e = [i for i, item in enumerate(items) if item.nodeid.startswith("tests/e2e/")]
    if not e2e:
        return
    block = items[e2e[0]:e2e[-1] + 1]
    shared = {item.module.__name__ for item in block if _uses_shared_stack(item)}
    block.sort(key=lambda item: item.module.__name__ not in shared)  # stable: order kept within each part
    items[e2e[0]:e2e[-1] + 1] = block
    users = [item.nodeid for item in block if item.module.__name__ in shared]
    _last_user[:] = users[-1:]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    result = yield
    if _running and _last_user and item.nodeid == _last_user[0]:
        _running.pop().close()
    return result


@pytest.fixture(scope="package")
def stack_devnet():
    """The shared stack's own anvil: the ``chain`` fixture reverts the session's ``devnet``
    after each test, which would take the shared stack's transactions with it."""
    from services.ops.processes import free_port
    from tests.support.devnet import start_devnet

    net = start_devnet(free_port())
    try:
        yield net
    finally:
        net.anvil.stop()


@pytest.fixture(scope="package")
def stack(stack_devnet, tmp_path_factory):
    """Every service running, shared by every e2e module that does not define a ``stack`` of its own."""
    s = make_stack(tmp_path_factory.mktemp("shared-stack"), stack_devnet.rpc_url, stack_devnet.address, 31337,
                   services=SHARED_SERVICES, **SHARED_ENV)
    s.devnet = stack_devnet
    _running.append(s)
    try:
        yield s
    finally:
        s.close()  # a no-op when the last test on it has stopped it already


@pytest.fixture(scope="module")
def verifier(stack):
    """A client of the verifier service of whichever ``stack`` the module runs on."""
    import httpx

    with httpx.Client(base_url=stack.url("verifier"), timeout=30) as client:
        yield client
