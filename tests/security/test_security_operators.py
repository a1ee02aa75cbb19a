"""Several operators per node: the node's administrator (the operator named at `node init`, or
the first enrolled — `authex up` enrols the local operator) enrols another operator over the
network, which can then command the node; nobody else can enrol or withdraw operators; a
withdrawn operator is refused at once; and an administrator rotates its own key by enrolling the
new one as administrator and withdrawing the old."""

from __future__ import annotations

import shutil
from pathlib import Path

from authex.crypto.identity import key_id
from authex.deployer import operations
from authex.deployer.state import StateStore
from authex.descriptor import Descriptor, load_descriptor
from authex.wire.messages import AddOperator, RemoveOperator
from support.harness import App, running_app


def other_operator(irrigation_dir: Path, folder: Path, name: str) -> App:
    """The application deployed by another operator (its own `.authex/`, so its own operator
    key) under deployment ``name``, on the same nodes (pinned in the first operator's trust
    file)."""
    shutil.copytree(irrigation_dir / "modules", folder / "modules")
    trust = StateStore.of(load_descriptor(irrigation_dir / "descriptor.yaml")).folder
    text = (irrigation_dir / "descriptor.yaml").read_text()
    text = text.replace("name: smart-irrigation", f"name: {name}", 1)
    (folder / "descriptor.yaml").write_text(text + f"trust: {trust / 'trust.yaml'}\n")
    return App(load_descriptor(folder / "descriptor.yaml"))


def reachable(app: App) -> list[str]:
    return sorted(n["name"] for n in app.status()["nodes"] if n["reachable"])


def certificate(descriptor: Descriptor) -> str:
    cert, _ = StateStore.of(descriptor).operator_tls()
    return cert.read_text()


def ident(descriptor: Descriptor) -> str:
    return key_id(StateStore.of(descriptor).operator_key().public_key())


def administer(app: App, message: AddOperator | RemoveOperator) -> dict[str, str]:
    return app.with_session(
        lambda s: operations.administer_operators(s, message, []), exclusive=False
    )


def test_an_administrator_enrols_withdraws_and_rotates_operators(
    irrigation_dir: Path, tmp_path: Path
) -> None:
    with running_app(irrigation_dir) as alice:
        nodes = sorted(n.name for n in alice.descriptor.nodes)
        bob = other_operator(irrigation_dir, tmp_path / "bob", "bob-app")
        assert reachable(bob) == []  # not enrolled: every handshake fails

        assert administer(alice, AddOperator(certificate(bob.descriptor), 0)) == {
            n: ident(bob.descriptor) for n in nodes
        }
        assert reachable(bob) == nodes  # a second operator works beside the first

        # bob cannot act for alice's deployment (same name, bob's key)
        intruder = other_operator(irrigation_dir, tmp_path / "intruder", "smart-irrigation")
        root = StateStore.of(intruder.descriptor).root
        root.mkdir(parents=True, exist_ok=True)
        for name in ("operator.key", "operator.pem", "operator-key.pem"):
            shutil.copy(StateStore.of(bob.descriptor).root / name, root / name)
        cloud = next(n for n in intruder.status()["nodes"] if n["name"] == "cloud")
        assert not cloud["reachable"]
        assert f"belongs to operator {ident(alice.descriptor)}" in cloud["error"]

        carol = other_operator(irrigation_dir, tmp_path / "carol", "carol-app")
        refused = administer(bob, AddOperator(certificate(carol.descriptor), 0))
        for text in refused.values():  # only the administrator enrols
            assert "only the administrator of node" in text
            assert f"this link is operator {ident(bob.descriptor)}" in text
        assert reachable(carol) == []
        assert administer(bob, RemoveOperator(ident(alice.descriptor)))["cloud"].startswith(
            "error: "
        )

        assert administer(alice, RemoveOperator(ident(bob.descriptor))) == {
            n: ident(bob.descriptor) for n in nodes
        }
        assert reachable(bob) == []  # withdrawn: refused from the next handshake on

        # rotation: the administrator's new key is enrolled as administrator, the old withdrawn
        new_alice = other_operator(irrigation_dir, tmp_path / "alice2", "smart-irrigation")
        administer(alice, AddOperator(certificate(new_alice.descriptor), 1))
        assert administer(new_alice, RemoveOperator(ident(alice.descriptor))) == {
            n: ident(alice.descriptor) for n in nodes
        }
        assert reachable(alice) == []
        assert reachable(new_alice) == nodes
        assert (
            "administrator"
            in administer(new_alice, RemoveOperator(ident(new_alice.descriptor)))["cloud"]
        )
