"""Every key of a flow file in one registry: the single source of what each key is.

Each :class:`Key` says where it applies (the flow, a step, or both, where a step inherits the
flow's value), its type and bounds, its default, the hint shown with a diagnostic about it, the
argument of ``pgflow.create_flow`` / ``pgflow.add_step`` that carries it, whether it is part of
the flow's shape or an option changed in place, and its text for the JSON Schema and the docs.

The schema check, the graph check, the model, the compiler, the shape and the drift check read
this table. Two static files are generated from it, ``schemas/flow.schema.json`` and the key
tables of ``docs/flow-format.md``; ``python -m pgflow_yaml.options --write`` rewrites them and
``--check`` (run by the tests) fails naming any that is stale.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Level = Literal["flow", "step"]
Kind = Literal[
    "string",
    "integer",
    "string_list",
    "enum",
    "pattern",
    "json_schema",
    "steps",
    "signal",
    "schedules",
    "concurrency",
    "rate_limit",
]
"""How a value is checked: ``pattern`` and ``json_schema`` values have their type reported by
:mod:`pgflow_yaml.graph`, ``schedules`` entirely by :mod:`pgflow_yaml.schedules`, every other
kind by :mod:`pgflow_yaml.schema`; ``concurrency`` and ``rate_limit`` have their types checked
there, their ranges and key paths by :mod:`pgflow_yaml.graph` (a step's) and
:mod:`pgflow_yaml.flow_control` (the flow's)."""
Role = Literal["option", "shape", "file"]
"""``option``: stored, and changed in place on a flow of the same shape; ``shape``: part of the
shape, so changing it needs a new flow; ``file``: only in the file (never stored as such)."""

PG_INT_MAX = 2_147_483_647
SLUG_PATTERN = "^[a-zA-Z_][a-zA-Z0-9_]*$"
MAX_SLUG_LENGTH = 128
MAX_FLOW_SLUG_LENGTH = 47
"""pgmq refuses queue names longer than this, and a flow's slug names its queue."""
RESERVED_SLUGS = ("run",)
WHEN_MODES = ("fail", "skip", "skip-cascade")
PRIORITY_MIN = -PG_INT_MAX
"""The lowest priority (one above PostgreSQL's smallest integer, the "not given" value)."""
STEP_KEY_PATH_PATTERN = "^[A-Za-z0-9_$-]+(\\.[A-Za-z0-9_$-]+)*$"
"""A step's concurrency or rate key: a dotted path into the step's input (``run.customer_id``),
names of letters, digits, ``_``, ``$`` and ``-``."""
ROOT_INPUT = "$input"
"""The ``map:`` value that maps over the run input instead of a step's output."""
FLOW_KEY_PATH_PATTERN = r"^[^.]+(\.[^.]+)*$"
"""A flow's concurrency ``key``: a dotted path into the run input of one or more non-empty
names (``customer.id``), as the check ``opt_concurrency_is_valid`` of ``pgflow.flows`` has it."""

_CONCURRENCY_SCHEMA: dict[str, Any] = {
    "type": ["integer", "object"],
    "minimum": 1,
    "maximum": PG_INT_MAX,
    "additionalProperties": False,
    "required": ["limit"],
    "properties": {
        "limit": {
            "description": "At most this many at once.",
            "type": "integer",
            "minimum": 1,
            "maximum": PG_INT_MAX,
        },
        "key": {
            "description": "A dotted path (customer.id): the limit applies per distinct value.",
            "type": "string",
            "pattern": FLOW_KEY_PATH_PATTERN,
        },
    },
}


def concurrency_value(value: Any) -> dict[str, Any]:
    """Return a ``concurrency`` value in its stored form: ``{"limit": N}`` or
    ``{"limit": N, "key": "a.b"}`` (an integer ``N`` is ``{"limit": N}``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return {"limit": value}
    stored = {"limit": value["limit"]}
    if value.get("key") is not None:
        stored["key"] = value["key"]
    return stored


@dataclass(frozen=True)
class Use:
    """How a key reads at one level (the flow or a step).

    Attributes:
        description: Its description in the JSON Schema (what an editor shows).
        doc: Its line in the docs table (``None``: an inherited option, which the step table
            lists in one shared row).
        doc_type: Its type in the docs table (integers: derived from the bounds).
        schema: Its JSON Schema keywords, unless derived from the kind (integers, enums).
        required: Every flow (or step) must have it.
    """

    description: str
    doc: str | None = None
    doc_type: str | None = None
    schema: Mapping[str, Any] | None = None
    required: bool = False


@dataclass(frozen=True)
class Key:
    """One key of a flow file.

    Attributes:
        name: The key as written in the file (also the model's name for it).
        kind: How its value is checked.
        role: Whether it is an in-place option, part of the shape, or only in the file.
        flow: How it reads at the top level (``None``: not allowed there).
        step: How it reads in a step (``None``: not allowed there).
        inherits: A step that leaves it out takes the flow's value.
        minimum: Smallest allowed integer; the largest is :data:`PG_INT_MAX`.
        choices: The values allowed for an ``enum``.
        unit: Unit of an integer in messages (``"seconds"``), or empty.
        default: The value when the file leaves it out (the flow's, for an inherited option).
        hint: Shown with a diagnostic about the key (missing, or out of range).
        sql_argument: The argument of ``pgflow.create_flow`` / ``pgflow.add_step`` carrying it.
        needs_core: pgflow 0.8.1 does not have it: a flow that sets it needs the pgflow-yaml
            core (the compiled migration says so).
    """

    name: str
    kind: Kind
    role: Role
    flow: Use | None = None
    step: Use | None = None
    inherits: bool = False
    minimum: int | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    default: Any = None
    hint: str | None = None
    sql_argument: str | None = None
    needs_core: bool = False

    @property
    def shape_key(self) -> str:
        """Return the key's name in the shape JSON (pgflow's camelCase: ``maxAttempts``)."""
        head, *rest = self.name.split("_")
        return head + "".join(part.capitalize() for part in rest)

    def use(self, level: Level) -> Use | None:
        """Return how the key reads at ``level``, or ``None`` when it is not allowed there."""
        return self.flow if level == "flow" else self.step

    def json_schema(self, level: Level) -> dict[str, Any]:
        """Return the key's JSON Schema at ``level``, its description first."""
        use = self.use(level)
        assert use is not None, f"{self.name} is not a {level} key"
        keywords: Mapping[str, Any]
        if use.schema is not None:
            keywords = use.schema
        elif self.kind == "integer":
            keywords = {"type": "integer", "minimum": self.minimum, "maximum": PG_INT_MAX}
        else:
            keywords = {"type": "string"}
        return {"description": use.description, **keywords}

    def doc_type(self, level: Level) -> str:
        """Return the type column of the key's docs row at ``level``."""
        use = self.use(level)
        assert use is not None
        text = use.doc_type or (f"integer >= {self.minimum}" if self.kind == "integer" else "")
        return f"{text}, required" if use.required else text


def _when_mode(name: str, default: str, description: str, doc: str) -> Key:
    """Return a step key that picks one of :data:`WHEN_MODES` (part of the shape)."""
    return Key(
        name,
        "enum",
        "shape",
        step=Use(
            description,
            doc,
            ", ".join(f"`{mode}`" for mode in WHEN_MODES),
            {"$ref": "#/$defs/when_mode"},
        ),
        choices=WHEN_MODES,
        default=default,
        sql_argument=name,
        needs_core=True,
    )


KEYS: tuple[Key, ...] = (
    Key(
        "slug",
        "string",
        "shape",
        flow=Use(
            "Name of the flow: letters, digits and underscores, not starting with a digit, at "
            f"most {MAX_FLOW_SLUG_LENGTH} characters because it also names the flow's pgmq "
            "queue. Unique case-insensitively.",
            "Name of the flow. Also names its pgmq queue.",
            "string",
            {
                "type": "string",
                "pattern": SLUG_PATTERN,
                "maxLength": MAX_FLOW_SLUG_LENGTH,
                "not": {"const": "run"},
            },
            required=True,
        ),
        step=Use(
            "Name of the step, unique within the flow; dependents refer to it in depends_on "
            "and map.",
            "Name of the step, unique in the flow.",
            "string",
            {"$ref": "#/$defs/slug"},
            required=True,
        ),
        hint="every flow and every step needs a slug",
        sql_argument="step_slug",
    ),
    Key(
        "handler",
        "string",
        "file",
        step=Use(
            'Python callable that runs the step: "package.module:function" or '
            '"package.module.function". It takes the step input, and optionally a context. '
            "A step has exactly one of handler, signal and flow.",
            "`package.module:function` or `package.module.function`. A step has exactly one "
            "of `handler`, `signal` and `flow`.",
            "string",
            {"type": "string", "minLength": 1},
        ),
        hint='name the Python function that runs the step, e.g. "pkg.module:function"',
    ),
    Key(
        "signal",
        "signal",
        "shape",
        step=Use(
            "Make this a signal step: no handler; once ready it waits (holding no worker) "
            "until pgflow.signal delivers a payload, which becomes its output. schema: the JSON "
            "Schema the payload must satisfy. timeout bounds the wait, when_exhausted says "
            "what a timeout does.",
            "Wait for `pgflow.signal` instead of running a handler; the payload, checked "
            "against `schema`, is the step's output. `timeout` bounds the wait "
            "(docs/waits-and-subflows.md).",
            "mapping: `schema` (JSON Schema)",
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "schema": {
                        "description": "The JSON Schema (2020-12 unless it says otherwise "
                        "with $schema) the signal's payload must satisfy.",
                        "type": ["object", "boolean"],
                    }
                },
            },
        ),
        hint='give the step a handler, or make it wait for a signal with "signal: {}"',
        sql_argument="signal_schema",
        needs_core=True,
    ),
    Key(
        "flow",
        "string",
        "shape",
        step=Use(
            "Make this a sub-flow step: no handler; each task starts a child run of the named "
            "flow with the step's input (with map: one child run per element), and the child "
            "run's output becomes the task's output. A failed child run fails the task, which "
            "retries with a new child run per max_attempts and base_delay; the step's own "
            "timeout (not the flow's) bounds each child run.",
            "Run a child run of this flow instead of a handler; its output is the step's "
            "output. The step's own `timeout` bounds each child run (docs/waits-and-subflows.md).",
            "flow slug",
            {
                "type": "string",
                "pattern": SLUG_PATTERN,
                "maxLength": MAX_FLOW_SLUG_LENGTH,
                "not": {"const": "run"},
            },
        ),
        hint="the slug of a flow validated together with this one",
        sql_argument="child_flow_slug",
        needs_core=True,
    ),
    Key(
        "description",
        "string",
        "file",
        flow=Use(
            "What the flow does, for people reading the file.",
            "For people reading the file.",
            "string",
        ),
        step=Use(
            "What the step does, for people reading the file.",
            "For people reading the file.",
            "string",
        ),
    ),
    Key(
        "depends_on",
        "string_list",
        "shape",
        step=Use(
            "Slugs of the steps whose output this step needs; each must be listed before this "
            "step. Not allowed on a map step.",
            "Steps whose output this step needs. Each must be listed earlier.",
            "list of step slugs",
            {"type": "array", "items": {"$ref": "#/$defs/slug"}},
        ),
        sql_argument="deps_slugs",
    ),
    Key(
        "map",
        "string",
        "shape",
        step=Use(
            "Make this a map step: one task per element of the named earlier step's array "
            f'output, or of the run input with "{ROOT_INPUT}".',
            "Make this a map step: one task per element of that step's array output, or of "
            f"the run input with `{ROOT_INPUT}`.",
            f"step slug or `{ROOT_INPUT}`",
        ),
        sql_argument="step_type",
    ),
    Key(
        "max_attempts",
        "integer",
        "option",
        flow=Use(
            "Default number of attempts of every step (1 means no retry). Default 3.",
            "Attempts of every step (1: no retry).",
        ),
        step=Use("Number of attempts of this step, overriding the flow's max_attempts."),
        inherits=True,
        minimum=1,
        default=3,
        hint="1 means a single attempt, with no retry",
        sql_argument="max_attempts",
    ),
    Key(
        "base_delay",
        "integer",
        "option",
        flow=Use(
            "Default base retry delay in seconds; after failed attempt n the task waits"
            " base_delay * 2^n (the first retry 2 * base_delay). Default 1.",
            "Base retry delay in seconds: the first retry waits 2 × base_delay, each later"
            " retry twice as long as the one before (base_delay × 2^attempt).",
        ),
        step=Use("Base retry delay of this step in seconds, overriding the flow's base_delay."),
        inherits=True,
        minimum=1,
        unit="seconds",
        default=1,
        hint="the first retry waits 2 × base_delay seconds, each later one twice as long",
        sql_argument="base_delay",
    ),
    Key(
        "timeout",
        "integer",
        "option",
        flow=Use(
            "Default time limit of one task in seconds. Default 60.", "Seconds a task may run."
        ),
        step=Use(
            "Time limit of one task of this step in seconds, overriding the flow's timeout. On "
            "a sub-flow step (flow), the time limit of each child run; the flow's timeout does "
            "not apply there."
        ),
        inherits=True,
        minimum=3,
        unit="seconds",
        default=60,
        hint="a task gets at least 3 seconds to report back",
        sql_argument="timeout",
    ),
    Key(
        "start_delay",
        "integer",
        "option",
        step=Use(
            "Seconds to wait before the step's tasks become visible once the step is ready. "
            "Default 0.",
            "Seconds between the step becoming ready and its tasks becoming visible.",
        ),
        minimum=0,
        unit="seconds",
        default=0,
        hint="0 starts the step's tasks as soon as it is ready",
        sql_argument="start_delay",
    ),
    Key(
        "priority",
        "integer",
        "option",
        flow=Use(
            "Priority of the flow's tasks: a ready task of a higher priority is claimed before "
            "any ready task of a lower one. Default 0; a start may override it per run.",
            "Higher first: a ready task of a higher priority is claimed before any lower one; "
            "a start may override it per run (docs/flow-control.md).",
            "integer",
        ),
        step=Use("Priority of this step's tasks, overriding the flow's priority."),
        inherits=True,
        minimum=PRIORITY_MIN,
        default=0,
        hint="a higher priority is claimed first; the default is 0",
        sql_argument="priority",
        needs_core=True,
    ),
    Key(
        "concurrency",
        "concurrency",
        "option",
        flow=Use(
            "At most this many runs of the flow in progress at once; further runs wait in "
            "status queued and start as slots free, highest run priority first, then in "
            "arrival order. An integer, or "
            "{limit: N, key: PATH} for at most N per distinct value of PATH, a dotted path into "
            "the run input.",
            "At most N runs in progress at once (per value of `key`, a dotted path into the "
            "run input); the others wait `queued` (docs/flow-control.md).",
            "integer >= 1, or mapping: `limit`, `key`",
            _CONCURRENCY_SCHEMA,
        ),
        step=Use(
            "At most this many tasks of the step in flight at once across all workers: a number, "
            "or {limit, key} for at most limit per distinct value of key, a dotted path into the "
            "step's input (run.customer_id; a map task's input is its element).",
            "At most N tasks of this step in flight at once, across all workers; with `key` "
            "(a dotted path into the step's input) at most N per value (docs/flow-control.md).",
            "integer >= 1, or mapping: `limit`, `key`",
            {
                "oneOf": [
                    {"type": "integer"},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["limit"],
                        "properties": {
                            "limit": {
                                "description": "Tasks in flight at once (per key value).",
                                "type": "integer",
                            },
                            "key": {
                                "description": "A dotted path into the step's input.",
                                "type": "string",
                            },
                        },
                    },
                ]
            },
        ),
        minimum=1,
        hint="e.g. concurrency: 5, or concurrency: {limit: 1, key: run.customer_id}",
        sql_argument="concurrency_limit",
        needs_core=True,
    ),
    Key(
        "rate_limit",
        "rate_limit",
        "option",
        step=Use(
            "At most limit task starts of the step in any window of per seconds, across all "
            "workers; with key (a dotted path into the step's input), per distinct value.",
            "At most `limit` task starts in any `per` seconds, across all workers; with `key`, "
            "per value (docs/flow-control.md).",
            "mapping: `limit`, `per`, `key`",
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["limit", "per"],
                "properties": {
                    "limit": {
                        "description": "Task starts allowed per window.",
                        "type": "integer",
                    },
                    "per": {"description": "The window in seconds.", "type": "integer"},
                    "key": {
                        "description": "A dotted path into the step's input.",
                        "type": "string",
                    },
                },
            },
        ),
        hint="e.g. rate_limit: {limit: 100, per: 60}",
        sql_argument="rate_limit",
        needs_core=True,
    ),
    Key(
        "input_schema",
        "json_schema",
        "option",
        flow=Use(
            "A JSON Schema (2020-12 unless it says otherwise with $schema) that the input of "
            "every run must satisfy. Stored with the flow; every client start checks it.",
            "What a run's input must satisfy, checked at every start (stored with the flow); "
            "2020-12 unless it names another draft in `$schema`.",
            "JSON Schema (mapping or boolean)",
            {"type": ["object", "boolean"]},
        ),
        hint="e.g. input_schema: {type: object, required: [order_id]}",
        sql_argument="input_schema",
    ),
    Key(
        "deadline",
        "integer",
        "file",
        flow=Use(
            "Seconds a run may take at worst: pgflow validate reports an error when the "
            "worst case of the flow's timeouts, retries and delays (pgflow explain) exceeds it.",
            "Seconds a run may take at worst; `pgflow validate` fails when the worst case "
            "(`pgflow explain`) exceeds it.",
        ),
        minimum=1,
        unit="seconds",
        hint="the worst case of a run, in seconds: see pgflow explain FILE",
    ),
    Key(
        "steps",
        "steps",
        "shape",
        flow=Use(
            "The steps of the flow, in dependency order: a step comes after every step it "
            "depends on. The list position is the step index in the database.",
            "In dependency order.",
            "non-empty list of steps",
            {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
            required=True,
        ),
        hint="list the steps under steps:",
    ),
    Key(
        "schedules",
        "schedules",
        "file",
        flow=Use(
            "Cron schedules that start runs of this flow: each has a cron expression (5 fields "
            "or @hourly/@daily/@weekly/@monthly/@yearly), an IANA timezone (default UTC), the "
            "runs' input, overlap (skip|allow), catch_up (none|latest|all) and enabled.",
            "Start runs on a cron schedule (docs/schedules.md); stored in `pgflow.schedules`, "
            "changed in place.",
            "list of schedules",
            {"type": "array", "items": {"$ref": "#/$defs/schedule"}},
        ),
    ),
    Key(
        "if",
        "pattern",
        "shape",
        step=Use(
            "Run the step only when its input contains this JSON object, e.g. "
            "{charge: {paid: true}}.",
            "Run the step only when its input contains this object (PostgreSQL `@>`).",
            "JSON object",
            {"$ref": "#/$defs/pattern"},
        ),
        sql_argument="required_input_pattern",
        needs_core=True,
    ),
    Key(
        "if_not",
        "pattern",
        "shape",
        step=Use(
            "Run the step only when its input does not contain this JSON object.",
            "Run the step only when its input does not contain this object.",
            "JSON object",
            {"$ref": "#/$defs/pattern"},
        ),
        sql_argument="forbidden_input_pattern",
        needs_core=True,
    ),
    _when_mode(
        "when_unmet",
        "skip",
        "What happens when the if/if_not condition is not met: fail, skip or skip-cascade. "
        "Default skip. Needs if or if_not.",
        "When the condition is not met: fail the run, skip this step, or skip it and every "
        "step that depends on it. Default `skip`. Needs `if` or `if_not`.",
    ),
    _when_mode(
        "when_exhausted",
        "fail",
        "What happens when the last attempt fails: fail (the run fails), skip or "
        "skip-cascade. Default fail.",
        "When the last attempt fails. Default `fail`.",
    ),
)

KEY: dict[str, Key] = {key.name: key for key in KEYS}
FLOW_KEYS = tuple(key.name for key in KEYS if key.flow is not None)
STEP_KEYS = tuple(key.name for key in KEYS if key.step is not None)
INTEGER_KEYS = tuple(key for key in KEYS if key.kind == "integer")
FLOW_OPTIONS = tuple(key for key in KEYS if key.role == "option" and key.flow is not None)
"""The flow's in-place options, passed to ``create_flow`` (steps inherit the integer ones).

``input_schema`` is one: stored with the flow (``flows.opt_input_schema``, where the pgflow-yaml
core has it) and changed in place, never part of the shape."""
STEP_OPTIONS = tuple(key for key in KEYS if key.role == "option" and key.step is not None)
"""A step's in-place options, passed to ``add_step`` when the step sets them."""
OPTIONS = tuple(key for key in KEYS if key.role == "option")

STORED_FIELDS: dict[str, tuple[str, ...]] = {
    "concurrency": ("concurrency_limit", "concurrency_key"),
    "rate_limit": ("rate_limit", "rate_per", "rate_key"),
}
"""The options a step stores in several columns (``opt_<field>``), by key; a step stores every
other option in ``opt_<name>``. Each field is also the name of its ``add_step`` argument. A flow
stores each of its options in one column ``opt_<name>``, its ``concurrency`` whole (jsonb)."""


def stored_fields(key: Key, level: Level) -> tuple[str, ...]:
    """Return the names of the columns (without ``opt_``) that hold option ``key`` at ``level``
    (none where the key is not allowed)."""
    if key.use(level) is None:
        return ()
    if level == "flow":
        return (key.name,)
    return STORED_FIELDS.get(key.name, (key.name,))


def stored_values(key: Key, value: Any, level: Level) -> dict[str, Any]:
    """Return option ``key``'s value at ``level`` as its stored fields (``None``: not set).

    A step's ``concurrency: 5`` is ``{concurrency_limit: 5, concurrency_key: None}``; its
    ``rate_limit: {limit: 10, per: 60}`` is ``{rate_limit: 10, rate_per: 60, rate_key: None}``.
    A flow's option is stored as it is (its ``concurrency`` in the form of
    :func:`concurrency_value`).
    """
    if key.use(level) is None:
        return {}
    if level == "flow":
        return {key.name: value}
    if key.name == "concurrency":
        if isinstance(value, dict):
            return {"concurrency_limit": value.get("limit"), "concurrency_key": value.get("key")}
        return {"concurrency_limit": value, "concurrency_key": None}
    if key.name == "rate_limit":
        data = value if isinstance(value, dict) else {}
        return {
            "rate_limit": data.get("limit"),
            "rate_per": data.get("per"),
            "rate_key": data.get("key"),
        }
    return {key.name: value}


def shape_name(field: str) -> str:
    """Return a stored field's name in the shape JSON (pgflow's camelCase: ``maxAttempts``)."""
    head, *rest = field.split("_")
    return head + "".join(part.capitalize() for part in rest)


def flow_control_keys(level: Level) -> tuple[Key, ...]:
    """Return the flow-control options at ``level`` (docs/flow-control.md), compiled only where
    used: a step's priority, concurrency and rate limit, and the flow's priority. (A flow's own
    ``concurrency`` limits its runs, not tasks: it is compiled whenever set, and reset by a
    block of its own otherwise.)"""
    names = ("priority",) if level == "flow" else ("priority", "concurrency", "rate_limit")
    return tuple(KEY[name] for name in names)


def required(level: Level) -> tuple[str, ...]:
    """Return the keys every flow (or every step) must have."""
    return tuple(k.name for k in KEYS if (use := k.use(level)) is not None and use.required)


# --------------------------------------------------------------------------- generated files

_DEFS: dict[str, Any] = {
    "slug": {
        "description": "A step name: letters, digits and underscores, not starting with a "
        f'digit, at most {MAX_SLUG_LENGTH} characters, not "run".',
        "type": "string",
        "pattern": SLUG_PATTERN,
        "maxLength": MAX_SLUG_LENGTH,
        "not": {"const": "run"},
    },
    "when_mode": {
        "description": "What happens: fail the run, skip this step (dependents then run "
        "without its output) or skip it and every step that depends on it.",
        "type": "string",
        "enum": list(WHEN_MODES),
    },
    "pattern": {
        "description": "A JSON object matched by containment (Postgres @>) against the step's "
        "input.",
        "type": "object",
    },
    "schedule": {
        "description": "One schedule: a run of the flow starts at each time the cron "
        "expression names, in the timezone.",
        "type": "object",
        "additionalProperties": False,
        "required": ["cron"],
        "properties": {
            "name": {
                "description": 'Unique within the flow; "default" when there is one schedule.',
                "type": "string",
                "pattern": "^[a-zA-Z_][a-zA-Z0-9_-]{0,62}$",
            },
            "cron": {
                "description": "5 fields (minute hour day-of-month month day-of-week), or "
                "@hourly, @daily, @weekly, @monthly, @yearly.",
                "type": "string",
            },
            "timezone": {
                "description": "IANA name (Europe/Berlin); default UTC.",
                "type": "string",
            },
            "input": {"description": "The runs' input; checked against input_schema."},
            "overlap": {
                "description": "skip (default): no fire while this schedule's previous run is "
                "in progress; allow.",
                "enum": ["skip", "allow"],
            },
            "catch_up": {
                "description": "Fires missed while no worker ran: none, latest (default, one "
                "run) or all (at most 100).",
                "enum": ["none", "latest", "all"],
            },
            "enabled": {"description": "false: never fires (default true).", "type": "boolean"},
        },
    },
}


def _object(level: Level) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(required(level)),
        "properties": {k.name: k.json_schema(level) for k in KEYS if k.use(level) is not None},
    }


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema of a flow file, built from the registry."""
    flow = _object("flow")
    step = {
        "description": "One step: a Python handler run once (or once per array element for a "
        "map step).",
        **_object("step"),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://pgflow-yaml.dev/schemas/flow.schema.json",
        "title": "pgflow-yaml flow file",
        "description": "One flow (a DAG of steps run by pgflow-yaml), format version 1. Steps "
        "are listed so that every dependency comes before its dependents.",
        **flow,
        "$defs": {**_DEFS, "step": step},
    }


def _dump(value: Any, indent: str) -> str:
    """Write JSON two spaces per level, with lists of scalars and one-key objects on one line."""
    if isinstance(value, list) and not any(isinstance(v, dict | list) for v in value):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict) and len(value) == 1:
        ((_, inner),) = value.items()
        if not isinstance(inner, dict | list):
            return json.dumps(value, ensure_ascii=False)
    inner_indent = indent + "  "
    if isinstance(value, dict):
        items = [
            f"{inner_indent}{json.dumps(k, ensure_ascii=False)}: {_dump(v, inner_indent)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list):
        items = [inner_indent + _dump(v, inner_indent) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=False)


def schema_file_text() -> str:
    """Return the text of ``schemas/flow.schema.json`` as the registry makes it."""
    return _dump(json_schema(), "") + "\n"


def _row(*cells: str) -> str:
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def docs_tables() -> dict[str, str]:
    """Return the generated tables of ``docs/flow-format.md`` by name (``flow``, ``step``)."""
    flow = [_row("key", "type", "default", "meaning"), _row("---", "---", "---", "---")]
    for k in KEYS:
        if k.flow is not None:
            default = "" if k.default is None or not k.inherits else str(k.default)
            flow.append(_row(f"`{k.name}`", k.doc_type("flow"), default, k.flow.doc or ""))
    step = [_row("key", "type", "meaning"), _row("---", "---", "---")]
    inherited = [k for k in KEYS if k.step is not None and k.inherits]
    for k in KEYS:
        if k.step is None:
            continue
        if k.inherits:
            if k is inherited[0]:
                names = ", ".join(f"`{i.name}`" for i in inherited)
                step.append(
                    _row(
                        names,
                        "integers as above",
                        "Override the flow's value for this step. Left out, the step inherits it.",
                    )
                )
            continue
        step.append(_row(f"`{k.name}`", k.doc_type("step"), k.step.doc or ""))
    return {"flow": "\n".join(flow), "step": "\n".join(step)}


ROOT = Path(__file__).resolve().parent.parent
"""The repository (the generated files are not in an installed package)."""
SCHEMA_FILE = Path("schemas", "flow.schema.json")
DOCS_FILE = Path("docs", "flow-format.md")
_BEGIN = "<!-- generated by `python -m pgflow_yaml.options --write`: {name} keys -->"
_END = "<!-- end of generated {name} keys -->"


def docs_text(current: str) -> str:
    """Return ``current`` (the docs page) with each generated table replaced by the registry's.

    Raises:
        ValueError: a table's begin or end marker is missing.
    """
    text = current
    for name, table in docs_tables().items():
        begin, end = _BEGIN.format(name=name), _END.format(name=name)
        start = text.find(begin)
        stop = text.find(end, start)
        if start < 0 or stop < 0:
            raise ValueError(f"{DOCS_FILE} lacks the markers of the generated {name} keys table")
        text = text[: start + len(begin)] + "\n" + table + "\n" + text[stop:]
    return text


def _first_difference(current: str, wanted: str) -> str:
    pairs = zip(current.split("\n"), wanted.split("\n"), strict=False)
    for number, (have, want) in enumerate(pairs, 1):
        if have != want:
            return f"line {number} is {have.strip()!r}, the registry makes {want.strip()!r}"
    return "the registry makes a file of another length"


def stale_files(root: Path = ROOT) -> list[str]:
    """Return a line for each generated file under ``root`` that the registry would change."""
    stale = []
    schema = (root / SCHEMA_FILE).read_text(encoding="utf-8")
    if schema != schema_file_text():
        stale.append(f"{SCHEMA_FILE}: {_first_difference(schema, schema_file_text())}")
    docs = (root / DOCS_FILE).read_text(encoding="utf-8")
    if docs != docs_text(docs):
        stale.append(f"{DOCS_FILE}: {_first_difference(docs, docs_text(docs))}")
    return stale


def write_files(root: Path = ROOT) -> None:
    """Rewrite ``schemas/flow.schema.json`` and the key tables of ``docs/flow-format.md``."""
    (root / SCHEMA_FILE).write_text(schema_file_text(), encoding="utf-8")
    docs = root / DOCS_FILE
    docs.write_text(docs_text(docs.read_text(encoding="utf-8")), encoding="utf-8")


def main(argv: list[str], root: Path = ROOT) -> int:
    """``--write`` rewrites the generated files; ``--check`` lists the stale ones (exit 1)."""
    if argv == ["--write"]:
        write_files(root)
        return 0
    if argv == ["--check"]:
        stale = stale_files(root)
        for line in stale:
            print(f"{line} (run python -m pgflow_yaml.options --write)", file=sys.stderr)
        return 1 if stale else 0
    print("usage: python -m pgflow_yaml.options --write | --check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
