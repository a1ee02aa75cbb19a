"""Deployments on a node, without sockets: binding and ownership, connection ids per
deployment, what each control link sees of the status, a reset that touches only its own
deployment, and a registry of an earlier version (modules without a deployment)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from authex.agent.errors import CommandError
from authex.agent.modules import ModuleSupervisor
from authex.agent.node import NodeAgent
from authex.agent.registry import ModuleRecord, Registry, RegistryStore, TimerRecord
from authex.agent.tenancy import Scope, Tenancy, TenancyStore, scoped_status
from authex.wire.messages import AddRoute, Bind, ErrorCode, Ok, Reset, Send, Status, StatusResult
from support import status as fake_status
from support.agent_rig import FakeProcess, agent, connect_calls, load

__all__ = ["agent", "connect_calls"]  # fixtures

ALICE, BOB, ADMIN = "a1a1a1a1a1a1a1a1", "b0b0b0b0b0b0b0b0", "adadadadadadadad"


def test_a_deployment_belongs_to_the_operator_that_bound_it_first() -> None:
    tenancy = Tenancy()
    alice = Scope(ALICE)
    assert tenancy.bind(alice, "shop", "n1") and alice.deployment == "shop"
    assert not tenancy.bind(Scope(ALICE), "shop", "n1")  # again: nothing new
    bob = Scope(BOB)
    with pytest.raises(CommandError) as refused:
        tenancy.bind(bob, "shop", "n1")
    assert refused.value.code == ErrorCode.REJECTED
    assert f"deployment 'shop' on node n1 belongs to operator {ALICE}" in refused.value.message
    assert bob.deployment == ""
    admin = Scope(ADMIN, admin=True)
    assert not tenancy.bind(admin, "shop", "n1") and admin.deployment == "shop"
    for bad in ("", "Shop", "../x", "a/b", "x" * 65, "evil\nline"):
        with pytest.raises(CommandError, match="invalid deployment name"):
            tenancy.bind(Scope(ALICE), bad, "n1")


def test_connection_ids_and_module_names_are_per_deployment() -> None:
    tenancy = Tenancy()
    shop, blog = Scope(ALICE), Scope(ALICE)
    tenancy.bind(shop, "shop", "n1")
    tenancy.bind(blog, "blog", "n1")
    assert tenancy.claim("shop", 7, "n1") and not tenancy.claim("shop", 7, "n1")
    with pytest.raises(CommandError, match="connection id 7 on node n1 is another deployment's"):
        tenancy.claim("blog", 7, "n1")
    assert shop.module("cart") == "shop/cart" and blog.module("cart") == "blog/cart"
    assert shop.module("") == ""  # the operator's end
    with pytest.raises(CommandError, match="send Bind"):
        Scope(ALICE).module("cart")
    assert tenancy.release("shop") == [7] and tenancy.claim("blog", 7, "n1")


def test_each_link_sees_only_what_its_operator_owns(tmp_path: Path) -> None:
    tenancy = Tenancy()
    for operator, name in ((ALICE, "shop"), (BOB, "blog")):
        tenancy.bind(Scope(operator), name, "n1")
    tenancy.claim("shop", 1, "n1")
    tenancy.claim("blog", 2, "n1")
    status = fake_status.node(
        "n1",
        modules=[fake_status.module("shop/cart", 1), fake_status.module("blog/post", 2)],
        connections=[fake_status.counters(1, delivered=3), fake_status.counters(2)],
        timers=[fake_status.timer("shop/cart", 0x3001), fake_status.timer("blog/post", 0x3001)],
    )

    def seen(scope: Scope) -> tuple[list[tuple[str, str]], list[int], list[str]]:
        shown = scoped_status(status, scope, tenancy)
        return (
            [(m.deployment, m.name) for m in shown.modules],
            [c.conn_id for c in shown.connections],
            [t.module for t in shown.timers],
        )

    assert seen(Scope(ALICE)) == ([("shop", "cart")], [1], ["cart"])
    assert seen(Scope(BOB, deployment="blog")) == ([("blog", "post")], [2], ["post"])
    everything = ([("shop", "cart"), ("blog", "post")], [1, 2], ["cart", "post"])
    assert seen(Scope(ADMIN, admin=True)) == everything
    assert seen(Scope(ADMIN, admin=True, deployment="shop")) == ([("shop", "cart")], [1], ["cart"])


def test_the_deployments_file_round_trips_and_a_corrupt_one_is_named(tmp_path: Path) -> None:
    store = TenancyStore(tmp_path)
    tenancy = Tenancy({"shop": ALICE}, {7: "shop"})
    store.save(tenancy)
    assert store.load() == tenancy
    store.path.write_text("{")
    with pytest.raises(Exception, match="corrupt deployments file"):
        store.load()


def test_reset_stops_only_its_own_deployment(agent: NodeAgent) -> None:
    for name in ("shop/cart", "blog/post"):
        load(agent, FakeProcess(name))
    for conn_id, deployment, module in ((11, "shop", "shop/cart"), (12, "blog", "blog/post")):
        agent.ledger.add_route(AddRoute(conn_id, "", "", "", "n1", module, "127.0.0.1:7001"))
        agent.tenancy.owners[deployment] = ALICE
        agent.tenancy.claim(deployment, conn_id, "n1")
    shop = Scope(ALICE)

    async def go() -> None:
        assert await agent.command(Bind("shop"), shop) == Ok()
        assert await agent.command(Reset(), shop) == Ok()
        with pytest.raises(CommandError, match="not deployment 'shop'"):
            await agent.command(Send(12, 1, b"x"), shop)  # blog's connection
        reply = await agent.command(Status(), Scope(ALICE))
        assert isinstance(reply, StatusResult)
        assert [(m.deployment, m.name) for m in reply.status.modules] == [("blog", "post")]

    asyncio.run(go())
    assert set(agent.modules.modules) >= {"blog/post"} and "shop/cart" not in agent.modules.modules
    assert agent.ledger.target(12, 0) is not None and agent.ledger.target(11, 0) is None
    assert 11 not in agent.tenancy.connections and agent.tenancy.connections[12] == "blog"
    assert TenancyStore(agent.directory).load().connections == agent.tenancy.connections


def test_an_earlier_registry_is_not_restored_and_says_what_to_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = RegistryStore(tmp_path)
    route = AddRoute(3, "n1", "sensor", "127.0.0.1:7001", "n2", "relay", "127.0.0.1:7002")
    store.save(
        Registry(
            {"sensor": ModuleRecord("sensor", "native", 5, "00", "ab" * 32)},
            {3: route},
            [TimerRecord("sensor", 0x3001, 1000)],
        )
    )
    supervisor = ModuleSupervisor.__new__(ModuleSupervisor)
    supervisor.node, supervisor.store, supervisor.modules = "n1", store, {}
    supervisor.timers = {}
    with caplog.at_level(logging.WARNING):
        assert asyncio.run(supervisor.restore(set())) == []
    assert "1 modules (sensor) and 1 routes of an earlier authex are not restored" in caplog.text
    assert "run `authex deploy` for their application" in caplog.text
    assert store.load() == Registry()
