"""The update's phases as a state machine: one table of allowed transitions, a driver that runs
the steps in its order from wherever a killed run stopped, and a clear internal error for any
phase change the table does not allow."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest

from authex.deployer import update as update_module
from authex.deployer.deploy import Prepared
from authex.deployer.session import Session
from authex.deployer.state import DeploymentState, Phase, UpdateState
from authex.deployer.update import (
    _STEPS,
    TRANSITIONS,
    Transition,
    TransitionError,
    UpdateReport,
    _enter,
    _run,
    _Update,
)
from authex.errors import StateError


def test_the_steps_lead_through_every_phase_once_in_order() -> None:
    path = [Phase.STAGING]
    while path[-1] in _STEPS:
        path.append(_STEPS[path[-1]].target)
    assert path == list(Phase)
    assert all(t.step is not None for t in _STEPS.values())


def test_only_phases_before_the_switch_may_go_back_to_staging() -> None:
    back = {t.source for t in TRANSITIONS if t.target is Phase.STAGING}
    assert back == {Phase.STAGED, Phase.KEYED}
    assert not any(p.committed for p in back)
    assert [p for p in Phase if p.committed] == [Phase.SWITCHED, Phase.DRAINED, Phase.PROMOTED]


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (Phase.STAGING, Phase.KEYED),  # skips a step
        (Phase.SWITCHED, Phase.STAGING),  # sources switched: no way back
        (Phase.PROMOTED, Phase.STAGING),
        (Phase.DRAINED, Phase.SWITCHED),
        (Phase.KEYED, Phase.KEYED),
    ],
)
def test_a_transition_not_in_the_table_is_an_internal_error(source: Phase, target: Phase) -> None:
    record = UpdateState("m", "m~u1", "ab", source)
    with pytest.raises(TransitionError, match=f"from {source.value} to {target.value}"):
        _enter(record, target)
    assert record.phase is source


@dataclass
class FakeSession:
    """What the driver uses of a session: the state, save and progress."""

    state: DeploymentState = field(default_factory=DeploymentState)
    events: list[str] = field(default_factory=list)
    record: UpdateState | None = None

    def save(self) -> None:
        assert self.record is not None
        self.events.append(f"save {self.record.phase.value}")

    def progress(self, text: str) -> None:
        self.events.append(f"say {text}")


@pytest.fixture
def driven(monkeypatch: pytest.MonkeyPatch) -> FakeSession:
    """The driver with steps that only record themselves; the staged instance is running."""
    session = FakeSession()

    def fake(name: str) -> Any:
        async def step(run: _Update) -> str:
            session.events.append(f"step {name}")
            return f"did {name}" if name in ("key", "promote") else ""

        return step

    steps = {
        phase: Transition(t.source, t.target, fake(t.step.__name__))
        for phase, t in _STEPS.items()
        if t.step is not None
    }
    monkeypatch.setattr(update_module, "_STEPS", steps)

    async def running(session: object, record: UpdateState) -> bool:
        return True

    async def finish(session: object, record: UpdateState, manifests: object) -> None:
        FakeSession.progress(cast(FakeSession, session), "finished")

    monkeypatch.setattr(update_module, "_staged_running", running)
    monkeypatch.setattr(update_module, "_finish", finish)
    return session


def drive(session: FakeSession, phase: Phase) -> None:
    record = UpdateState("m", "m~u1", "ab", phase)
    session.record = record
    session.state.updates["m"] = record
    prepared = cast(Prepared, SimpleNamespace(manifests={}))
    asyncio.run(_run(cast(Session, session), record, prepared, False, UpdateReport("m")))
    assert "m" not in session.state.updates  # done: the update is forgotten


def test_the_driver_resumes_where_the_state_says_and_saves_each_phase(
    driven: FakeSession,
) -> None:
    drive(driven, Phase.KEYED)
    assert driven.events == [
        "step switch",
        "save switched",
        "step drain",
        "save drained",
        "step promote",
        "save promoted",
        "say did promote",  # told only once the phase it reached is saved
        "say finished",
        "save promoted",
    ]


def test_the_driver_runs_every_step_of_a_new_update(driven: FakeSession) -> None:
    drive(driven, Phase.STAGING)
    steps = [e for e in driven.events if e.startswith("step")]
    assert steps == ["step stage", "step key", "step switch", "step drain", "step promote"]
    assert driven.events.index("say did key") == driven.events.index("save keyed") + 1


def test_a_promoted_update_only_finishes(driven: FakeSession) -> None:
    drive(driven, Phase.PROMOTED)
    assert driven.events == ["say finished", "save promoted"]


def test_a_staged_instance_gone_before_the_switch_is_staged_again(
    driven: FakeSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def gone(session: object, record: UpdateState) -> bool:
        return False

    monkeypatch.setattr(update_module, "_staged_running", gone)
    drive(driven, Phase.KEYED)
    assert driven.events[0] == "say the staged m~u1 is gone: staging it again"
    steps = [e for e in driven.events if e.startswith("step")]
    assert steps == ["step stage", "step key", "step switch", "step drain", "step promote"]


def test_a_staged_instance_gone_after_the_switch_needs_a_deploy(
    driven: FakeSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def gone(session: object, record: UpdateState) -> bool:
        return False

    monkeypatch.setattr(update_module, "_staged_running", gone)
    with pytest.raises(StateError, match="after sources switched to it: run `authex deploy`"):
        drive(driven, Phase.SWITCHED)
    assert driven.events == []


def test_a_step_that_leads_where_the_table_does_not_go_is_an_internal_error(
    driven: FakeSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = dict(update_module._STEPS)
    broken[Phase.STAGED] = Transition(Phase.STAGED, Phase.SWITCHED, broken[Phase.STAGED].step)
    monkeypatch.setattr(update_module, "_STEPS", broken)
    with pytest.raises(TransitionError, match="no transition from staged to switched"):
        drive(driven, Phase.STAGED)
    assert driven.events == ["step key"]  # nothing recorded for the phase it was not allowed
