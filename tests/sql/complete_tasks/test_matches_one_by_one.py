"""complete_tasks ends where complete_task ends, called for each item of the batch in order.

A differential test over seeded random flows of 3-8 steps: chains, diamonds, root maps over the
run input, maps over a parent's array output (sometimes empty, sometimes not an array at all:
[TYPE_VIOLATION]), and conditions with when_unmet 'skip' or 'skip-cascade'. Every run is started
twice. Each round claims every visible task; copy A's tasks are reported in batches mixing the
runs of the flow, in a random order, with now and then a duplicate item, a fenced attempt, an
item without an attempt or an item of a task that is not started; copy B gets the same items one
complete_task call at a time. After every batch both copies must hold the same runs, step states,
tasks and queue / archive messages, and complete_tasks must have returned the rows the calls did.

A batch records all its tasks before it resolves conditions, which sql/0341 documents as the
only differences: when_unmet 'fail' is left out (the run's other tasks of the batch end completed,
not cancelled; test_batch_effects.py), and a step skipped by a condition may count down parents
completed in the same batch, so remaining_deps of skipped steps is not compared. An item naming a
task that did not exist when the batch began returns nothing from complete_tasks (the calls
return the task's row when an earlier item of the batch created it), so such rows are dropped
from the one-by-one side.
30 seeds by default, 300 with PGFLOW_SLOW=1.
"""

import json
import os
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from ..helpers import Conn, Task, add_flow, claim, rows, start

SEEDS = range(300 if os.environ.get("PGFLOW_SLOW") else 30)
FLOW = "f"
MAX_ROUNDS = 100

# what a handler returns: objects a condition can look at, scalars, null
PLAIN: list[Any] = [{"go": True, "n": 1}, {"go": False}, {"go": True}, 1, "x", None, True]
# elements of the arrays that feed maps
ELEMENTS: list[Any] = [0, 1, 2, {"go": True}, {"go": False}]

Key = tuple[int, str, int]  # (run pair, step_slug, task_index)


@dataclass
class Case:
    """One seed: its flow, its run pairs (copy A, copy B) and what was reported so far."""

    seed: int
    steps: list[dict[str, Any]]
    inputs: list[Any]
    a_runs: list[uuid.UUID]
    b_runs: list[uuid.UUID]
    feeds_map: frozenset[str]
    history: list[str] = field(default_factory=list)

    def pair_of(self, run_id: uuid.UUID) -> tuple[str, int]:
        """Return ("A" or "B", pair index) of a run."""
        if run_id in self.a_runs:
            return "A", self.a_runs.index(run_id)
        return "B", self.b_runs.index(run_id)

    def describe(self) -> str:
        """Return what a failure message needs to replay the case."""
        lines = [f"seed {self.seed}", "flow:"]
        lines += [f"  {json.dumps(step)}" for step in self.steps]
        lines.append(f"run inputs (per pair): {json.dumps(self.inputs)}")
        lines.append("batches so far (pair, step, index, attempt, output):")
        lines += [f"  {h}" for h in self.history[:-1]]
        lines += [f"  {h}   <- the last batch" for h in self.history[-1:]]
        return "\n".join(lines)


def _random_flow(rng: random.Random) -> tuple[list[dict[str, Any]], frozenset[str]]:
    """Return the steps of a random flow and the single steps that feed a map."""
    shapes: list[tuple[str, str, list[str]]] = []  # (slug, step_type, deps)
    for i in range(rng.randint(3, 8)):
        earlier = [slug for slug, _, _ in shapes]
        step_type = "map" if rng.random() < 0.35 else "single"
        if not earlier or rng.random() < 0.15:
            deps: list[str] = []
        elif step_type == "map":
            deps = [rng.choice(earlier)]
        else:
            wanted = rng.choices([1, 2, 3], weights=[5, 3, 2])[0]
            deps = rng.sample(earlier, min(wanted, len(earlier)))
        shapes.append((f"s{i}", step_type, deps))

    types = {slug: step_type for slug, step_type, _ in shapes}
    feeds_map = frozenset(
        dep
        for _, step_type, deps in shapes
        for dep in deps
        if step_type == "map" and types[dep] == "single"
    )
    steps: list[dict[str, Any]] = []
    for slug, step_type, deps in shapes:
        step: dict[str, Any] = {"slug": slug, "deps": deps}
        if step_type == "map":
            step["step_type"] = "map"
        if rng.random() < 0.4:
            patterns = rng.choice(
                [
                    ["required_input_pattern"],
                    ["forbidden_input_pattern"],
                    ["required_input_pattern", "forbidden_input_pattern"],
                ]
            )
            for pattern in patterns:
                step[pattern] = _pattern(rng, deps, types, feeds_map)
            when_unmet = rng.choice([None, "skip", "skip-cascade", "skip-cascade"])
            if when_unmet is not None:
                step["when_unmet"] = when_unmet
        steps.append(step)
    return steps, feeds_map


def _pattern(
    rng: random.Random, deps: list[str], types: dict[str, str], feeds_map: frozenset[str]
) -> dict[str, Any]:
    """Return a pattern that the step's condition input matches some of the time."""
    if not deps:
        return {"go": True}  # the run input
    dep = rng.choice(deps)
    if types[dep] == "map" or dep in feeds_map:
        return {dep: [rng.choice([{"go": True}, 1])]}
    return {dep: {"go": True}}


def _run_input(rng: random.Random, steps: list[dict[str, Any]], pair: int) -> Any:
    if any(s.get("step_type") == "map" and not s["deps"] for s in steps):
        return [rng.choice(ELEMENTS) for _ in range(rng.choice([0, 1, 2, 2, 3]))]
    return {"go": rng.random() < 0.6, "pair": pair}


def _output(case: Case, key: Key, variant: int) -> Any:
    """Return the output of a task: the same for both copies (it depends on the key only)."""
    pair, step_slug, task_index = key
    rng = random.Random(f"{case.seed}/{pair}/{step_slug}/{task_index}/{variant}")
    if step_slug in case.feeds_map:
        if rng.random() < 0.15:
            return rng.choice([{"go": True}, 7, None, "text"])  # [TYPE_VIOLATION]
        return [rng.choice(ELEMENTS) for _ in range(rng.choice([0, 1, 2, 2, 3]))]
    return rng.choice(PLAIN)


def _item(key: Key, attempt: int | None, output: Any) -> dict[str, Any]:
    """Return a batch item of copy-neutral form (the run is a pair index)."""
    item: dict[str, Any] = {"pair": key[0], "step_slug": key[1], "task_index": key[2]}
    if attempt is not None:
        item["attempt"] = attempt
    item["output"] = output
    return item


def _items(
    case: Case,
    rng: random.Random,
    keys: list[Key],
    tasks: dict[Key, Task],
    reported: set[Key],
    pending: set[Key],
) -> list[dict[str, Any]]:
    """Return a batch reporting ``keys`` (in that order) plus the odd late or fenced item."""
    items = [
        _item(k, None if rng.random() < 0.1 else tasks[k].attempt, _output(case, k, 0))
        for k in keys
    ]
    for k in keys:
        if rng.random() < 0.1:  # a duplicate, maybe before the first report
            items.insert(
                rng.randint(0, len(items)), _item(k, tasks[k].attempt, _output(case, k, 1))
            )
        if rng.random() < 0.1:  # a fenced attempt, maybe before the right one
            wrong = tasks[k].attempt + rng.choice([-1, 1])
            items.insert(rng.randint(0, len(items)), _item(k, wrong, _output(case, k, 2)))
    # items of tasks that are not started: ended ones, queued ones, ones that do not exist (yet)
    steps = [s["slug"] for s in case.steps]
    others = sorted(reported) + [
        (pair, slug, index)
        for pair in range(len(case.a_runs))
        for slug in steps
        for index in range(3)
    ]
    others = [k for k in others if k not in pending]
    for _ in range(rng.choice([0, 0, 1, 2])):
        k = rng.choice(others)
        items.insert(
            rng.randint(0, len(items)), _item(k, rng.choice([None, 1]), _output(case, k, 3))
        )
    return items


def _on(case: Case, copy: str, item: dict[str, Any]) -> dict[str, Any]:
    """Return the item as sent to copy A or B (its pair replaced by the copy's run)."""
    runs = case.a_runs if copy == "A" else case.b_runs
    sent = {k: v for k, v in item.items() if k != "pair"}
    sent["run_id"] = str(runs[item["pair"]])
    return sent


def _returned(case: Case, row: dict[str, Any]) -> tuple[Any, ...]:
    _, pair = case.pair_of(row["run_id"])
    return (
        pair,
        row["step_slug"],
        row["task_index"],
        row["status"],
        row["attempts_count"],
        row["output"],
    )


def _report(case: Case, conn: Conn, items: list[dict[str, Any]]) -> None:
    """Report ``items`` on A with complete_tasks and on B one by one; compare what came back."""
    case.history.append(
        json.dumps(
            [
                (i["pair"], i["step_slug"], i["task_index"], i.get("attempt"), i["output"])
                for i in items
            ]
        )
    )
    batch = json.dumps([_on(case, "A", i) for i in items])
    batched = [
        _returned(case, r)
        for r in rows(conn, "select * from pgflow.complete_tasks(%s::jsonb)", (batch,))
    ]
    existed = {
        (case.pair_of(r["run_id"])[1], r["step_slug"], r["task_index"])
        for r in rows(
            conn,
            "select run_id, step_slug, task_index from pgflow.step_tasks where run_id = any(%s)",
            (case.b_runs,),
        )
    }
    one_by_one: list[tuple[Any, ...]] = []
    for item in items:
        sent = _on(case, "B", item)
        if (item["pair"], item["step_slug"], item["task_index"]) not in existed:
            _run_quietly(conn, sent)  # the batch returns nothing for it (sql/0341)
            continue
        one_by_one += [
            _returned(case, r)
            for r in rows(
                conn,
                "select * from pgflow.complete_task(%s, %s, %s, %s::jsonb, %s)",
                (
                    sent["run_id"],
                    sent["step_slug"],
                    sent["task_index"],
                    json.dumps(sent["output"]),
                    sent.get("attempt"),
                ),
            )
        ]
    assert batched == one_by_one, (
        f"{case.describe()}\nrows returned (pair, step, index, status, attempts, output):\n"
        f"  complete_tasks: {batched}\n  complete_task:  {one_by_one}"
    )


def _run_quietly(conn: Conn, sent: dict[str, Any]) -> None:
    """Call complete_task for one item, ignoring what it returns."""
    conn.execute(
        "select * from pgflow.complete_task(%s, %s, %s, %s::jsonb, %s)",
        (
            sent["run_id"],
            sent["step_slug"],
            sent["task_index"],
            json.dumps(sent["output"]),
            sent.get("attempt"),
        ),
    )


def _state(case: Case, conn: Conn, runs: list[uuid.UUID]) -> dict[tuple[Any, ...], Any]:
    """Return the copy's state keyed by pair: runs, step states, tasks, message counts."""
    pair = {run_id: i for i, run_id in enumerate(runs)}
    state: dict[tuple[Any, ...], Any] = {}
    for r in rows(
        conn,
        "select run_id, status, output, remaining_steps from pgflow.runs where run_id = any(%s)",
        (runs,),
    ):
        state[pair[r["run_id"]], "run"] = (r["status"], r["output"], r["remaining_steps"])
    for r in rows(
        conn,
        "select run_id, step_slug, status, remaining_deps, initial_tasks, remaining_tasks,"
        " output, skip_reason, error_message"
        " from pgflow.step_states where run_id = any(%s)",
        (runs,),
    ):
        if r["status"] == "skipped":  # may count parents completed in the batch (sql/0341)
            del r["remaining_deps"]
        state[pair[r.pop("run_id")], "step", r.pop("step_slug")] = r
    for r in rows(
        conn,
        "select run_id, step_slug, task_index, status, output, attempts_count, error_message,"
        " error_type from pgflow.step_tasks where run_id = any(%s)",
        (runs,),
    ):
        state[pair[r.pop("run_id")], "task", r.pop("step_slug"), r.pop("task_index")] = r
    for table in (f"q_{FLOW}", f"a_{FLOW}"):
        for r in rows(
            conn,
            f"select (message ->> 'run_id')::uuid as run_id, count(*) as messages"
            f" from pgmq.{table} where (message ->> 'run_id')::uuid = any(%s) group by 1",
            (runs,),
        ):
            state[pair[r["run_id"]], table] = r["messages"]
    return state


def _compare(case: Case, conn: Conn, when: str) -> None:
    a, b = _state(case, conn, case.a_runs), _state(case, conn, case.b_runs)
    differing = [
        f"  {key}:\n    A (complete_tasks): {a.get(key)}\n    B (complete_task):  {b.get(key)}"
        for key in sorted(a.keys() | b.keys(), key=repr)
        if a.get(key) != b.get(key)
    ]
    assert not differing, f"{case.describe()}\nstates differ {when}:\n" + "\n".join(differing)


def _claim_both(case: Case, conn: Conn) -> tuple[dict[Key, Task], dict[Key, Task]]:
    """Claim every visible task; return copy A's and copy B's by key."""
    claimed: dict[str, dict[Key, Task]] = {"A": {}, "B": {}}
    for task in claim(conn, FLOW, qty=10_000):
        copy, pair = case.pair_of(task.run_id)
        claimed[copy][pair, task.step_slug, task.task_index] = task
    a, b = claimed["A"], claimed["B"]

    def seen(tasks: dict[Key, Task]) -> dict[Key, tuple[int, Any]]:
        return {k: (t.attempt, t.input) for k, t in tasks.items()}

    assert seen(a) == seen(b), (
        f"{case.describe()}\nclaimed tasks differ (key: attempt, input):\n"
        f"  A: {seen(a)}\n  B: {seen(b)}"
    )
    return a, b


def _play(conn: Conn, seed: int) -> Case:
    rng = random.Random(seed)
    steps, feeds_map = _random_flow(rng)
    add_flow(conn, FLOW, steps)
    inputs = [_run_input(rng, steps, pair) for pair in range(rng.randint(1, 3))]
    a_runs = [start(conn, FLOW, i) for i in inputs]
    b_runs = [start(conn, FLOW, i) for i in inputs]
    case = Case(seed, steps, inputs, a_runs, b_runs, feeds_map)
    _compare(case, conn, "after start")

    pending: dict[Key, Task] = {}  # claimed on A, not reported yet
    reported: set[Key] = set()
    for _ in range(MAX_ROUNDS):
        claimed, _b = _claim_both(case, conn)
        pending.update(claimed)
        if not pending:
            break
        keys = list(pending)
        rng.shuffle(keys)
        # most are reported now, a few are held for a later round
        now = [k for k in keys if rng.random() < 0.85] or keys[:1]
        cut = rng.randint(1, len(now))
        for part in (now[:cut], now[cut:]):
            if not part:
                continue
            items = _items(case, rng, part, pending, reported, set(pending))
            _report(case, conn, items)
            _compare(case, conn, f"after batch {len(case.history)}")
            for k in part:
                del pending[k]
            reported.update(part)
    return case


@pytest.mark.parametrize("seed", SEEDS)
def test_batch_ends_as_one_by_one(conn: Conn, seed: int) -> None:
    case = _play(conn, seed)
    ended = rows(conn, "select status from pgflow.runs where run_id = any(%s)", (case.a_runs,))
    assert all(r["status"] != "started" for r in ended), case.describe()
