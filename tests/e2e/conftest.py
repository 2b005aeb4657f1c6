"""The stack most e2e modules share (see tests/support/stack.py for what a test on it may do)."""

from __future__ import annotations

import pytest

from tests.support.stack import SHARED_ENV, SHARED_SERVICES, make_stack


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
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def verifier(stack):
    """A client of the verifier service of whichever ``stack`` the module runs on."""
    import httpx

    with httpx.Client(base_url=stack.url("verifier"), timeout=30) as client:
        yield client
