"""kfp's dsl.ExitHandler is scoped to its block: compiled by the real kfp SDK, run here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flowyard import Client
from flowyard.pipelines.target import load_target

Compiled = Callable[[str], Path]


def test_each_exit_task_waits_for_its_own_block(compiled: Compiled) -> None:
    pipeline = load_target(str(compiled("scoped_exit")))
    spec = pipeline.spec
    assert spec.on_exit is None   # two blocks, and a task outside both
    steps = {s.name: s for s in spec.steps}
    first, second = steps["notify"], steps["notify-2"]
    assert first.trigger == second.trigger == "allDone"
    # kfp's exit-handler-1 group: add-one-2, the condition's fail, add-one-3 (kfp's names).
    assert sorted(first.after) == ["add-one-2", "add-one-3", "fail"]
    assert second.after == ["add-one-4"]
    assert first.arguments["status"].kind == "group_status"
    assert steps["add-one"].after == [] and steps["add-one"].trigger == "allSucceeded"


def test_the_exit_task_sees_its_groups_status(client: Client, compiled: Compiled) -> None:
    path = str(compiled("scoped_exit"))
    ok = client.run(path)
    assert ok.state == "Succeeded"
    assert "exit group SUCCEEDED notify 0" in "\n".join(client.logs(ok.id, "notify"))

    bad = client.run(path, {"should_fail": True}, cache=False)
    assert bad.state == "Failed"
    steps = {s.id: s for s in client.steps(bad.id)}
    assert steps["fail"].state == "Failed"
    assert steps["notify"].state == "Succeeded"
    assert "exit group FAILED notify 1" in "\n".join(client.logs(bad.id, "notify"))
    group_done = max(steps[n].finished_at for n in ("add-one-2", "add-one-3", "fail")
                     if steps[n].finished_at is not None)
    assert steps["notify"].started_at is not None and steps["notify"].started_at >= group_done
    # Outside the failed block: the independent task and the second block are unaffected.
    assert steps["add-one"].state == "Succeeded"
    assert steps["add-one-4"].state == "Succeeded"
    assert "exit second SUCCEEDED notify-2 0" in "\n".join(client.logs(bad.id, "notify-2"))
