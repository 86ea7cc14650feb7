"""Schedules of a flow file: the ``schedules:`` list checked with positions, and cron arithmetic.

A schedule starts a run of its flow at each time its cron expression names, in its timezone.
The expression has five fields (minute, hour, day of month, month, day of week) or is one of
the macros of :data:`MACROS`; ``cronsim`` (a small, maintained cron evaluator that handles
DST, ``L``, ``W`` and ``#``) computes the times. Times that a DST change skips fire once, at
the next valid time; times that it repeats fire once (the first of the two), except for
expressions whose hour field is ``*`` (``*/15 * * * *``), which follow the real clock.

Nothing here knows a database: the worker (``pgflow_yaml.worker.schedules``) asks the database
which schedules are due and calls :func:`due_times`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pgflow_yaml.diagnostics import Diagnostic, DocPath
from pgflow_yaml.loader import SourceDoc
from pgflow_yaml.model import Span

Overlap = Literal["skip", "allow"]
CatchUp = Literal["none", "latest", "all"]

KEYS = ("name", "cron", "timezone", "input", "overlap", "catch_up", "enabled")
OVERLAPS: tuple[Overlap, ...] = ("skip", "allow")
CATCH_UPS: tuple[CatchUp, ...] = ("none", "latest", "all")
DEFAULT_NAME = "default"
MAX_CATCH_UP = 100
"""``catch_up: all`` starts at most this many missed fires (the latest ones)."""
NONE_GRACE = timedelta(minutes=1)
"""``catch_up: none`` still fires a time that is at most this late (a worker was busy)."""
NAME_PATTERN = re.compile(r"[a-zA-Z_][a-zA-Z0-9_-]{0,62}\Z")
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)


@dataclass(frozen=True)
class Schedule:
    """One validated schedule of a flow."""

    name: str
    cron: str
    timezone: str = "UTC"
    input: Any = field(default_factory=dict, hash=False)
    overlap: Overlap = "skip"
    catch_up: CatchUp = "latest"
    enabled: bool = True
    span: Span | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        """Return the schedule as ``pgflow.set_schedules`` takes it."""
        return {
            "name": self.name,
            "cron": self.cron,
            "timezone": self.timezone,
            "input": self.input,
            "overlap": self.overlap,
            "catch_up": self.catch_up,
            "enabled": self.enabled,
        }


class CronError(ValueError):
    """A cron expression cannot be used; ``field`` is the 0-based index of the bad field."""

    def __init__(self, message: str, field: int | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.hint = hint


@cache
def expand(expression: str) -> str:
    """Return the five-field form of ``expression`` (macros expanded, spaces normalised).

    Raises:
        CronError: not five fields, an unknown macro, or a field cronsim rejects.
    """
    from cronsim import CronSim, CronSimError

    text = expression.strip()
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise CronError(
                f"unknown cron macro {json.dumps(text)}",
                hint="use one of " + ", ".join(MACROS) + " or five fields",
            )
        return MACROS[text.lower()]
    parts = text.split()
    if len(parts) != 5:
        raise CronError(
            f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), "
            f"not {len(parts)}",
            hint='e.g. "0 3 * * *" (03:00 every day); seconds are not supported',
        )
    for index, part in enumerate(parts):
        probe = ["*"] * 5
        probe[index] = part
        try:
            CronSim(" ".join(probe), datetime(2000, 1, 1))
        except (CronSimError, ValueError, IndexError) as exc:
            raise _field_error(index, part, exc) from None
    normalised = " ".join(parts)
    try:
        CronSim(normalised, datetime(2000, 1, 1))
    except (CronSimError, ValueError, IndexError) as exc:
        raise CronError(f"invalid cron expression: {exc}") from None
    return normalised


def _field_error(index: int, part: str, exc: BaseException) -> CronError:
    name, low, high = FIELDS[index]
    numbers = [int(n) for n in re.findall(r"(?<![/#\d])\d+", part)]
    outside = [n for n in numbers if not low <= n <= high]
    if outside:
        return CronError(
            f"cron field {index + 1} ({name}) is out of range: {outside[0]} is not in {low}-{high}",
            index,
            f"{name} values are {low}-{high}",
        )
    return CronError(
        f"cron field {index + 1} ({name}) {json.dumps(part)} is not valid ({exc})",
        index,
        "a field is *, a number, a range a-b, a list a,b or a step */n",
    )


@cache
def zone(name: str) -> ZoneInfo:
    """Return the timezone called ``name`` (an IANA name such as ``Europe/Berlin``).

    Raises:
        ZoneInfoNotFoundError: no such timezone.
    """
    if not name or name.startswith(("/", ".")) or ".." in name:
        raise ZoneInfoNotFoundError(name)
    return ZoneInfo(name)


def fire_times(cron: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """Yield the fire times strictly after ``after``, in UTC, oldest first (endless)."""
    from cronsim import CronSim

    start = after.astimezone(zone(timezone)).replace(microsecond=0)
    last = after
    for local in CronSim(expand(cron), start):
        moment = local.astimezone(UTC)
        if moment > last:
            last = moment
            yield moment


def next_times(cron: str, timezone: str, after: datetime, count: int = 3) -> list[datetime]:
    """Return the next ``count`` fire times after ``after`` (UTC)."""
    times = fire_times(cron, timezone, after)
    return [next(times) for _ in range(count)]


def due_times(
    cron: str, timezone: str, catch_up: CatchUp, since: datetime, now: datetime
) -> tuple[list[datetime], datetime | None]:
    """Return ``(to_fire, through)`` for the fire times in ``(since, now]``.

    ``to_fire`` holds the times to start runs for under the catch-up policy: ``all`` the latest
    :data:`MAX_CATCH_UP`, ``latest`` the last one, ``none`` the last one if it is at most
    :data:`NONE_GRACE` late. ``through`` is the last due time (every time up to it is settled),
    or ``None`` when nothing is due.
    """
    due: list[datetime] = []
    for moment in fire_times(cron, timezone, since):
        if moment > now:
            break
        due.append(moment)
        if (catch_up != "all" and len(due) > 1) or len(due) > MAX_CATCH_UP:
            due.pop(0)
    if not due:
        return [], None
    through = due[-1]
    if catch_up == "none" and now - through > NONE_GRACE:
        return [], through
    return (due if catch_up == "all" else [through]), through


# --------------------------------------------------------------------------- validation


def _timezones() -> list[str]:
    return sorted(available_timezones())


class _Check:
    def __init__(self, doc: SourceDoc) -> None:
        self.doc = doc
        self.out: list[Diagnostic] = []

    def add(
        self,
        code: str,
        message: str,
        path: DocPath,
        hint: str | None = None,
        *,
        key: bool = False,
        span: Span | None = None,
    ) -> None:
        where = span or self.doc.span(path, key=key)
        self.out.append(Diagnostic(code, message, self.doc.file, where, path, hint))


def check_schedules(doc: SourceDoc) -> list[Diagnostic]:
    """Return a positioned diagnostic for every problem of the flow's ``schedules`` list."""
    data = doc.data
    if not isinstance(data, dict) or "schedules" not in data:
        return []
    check = _Check(doc)
    value = data["schedules"]
    if not isinstance(value, list):
        check.add(
            "PGF501",
            f"schedules must be a list, not {_describe(value)}",
            ("schedules",),
            "e.g. schedules: [{name: nightly, cron: '0 3 * * *'}]",
        )
        return check.out
    names: dict[str, int] = {}
    for i, item in enumerate(value):
        base: DocPath = ("schedules", i)
        if not isinstance(item, dict):
            check.add("PGF501", f"schedules[{i}] must be a mapping, not {_describe(item)}", base)
            continue
        _check_one(check, item, base, i, data.get("input_schema"), len(value))
        name = item.get("name", DEFAULT_NAME if len(value) == 1 else None)
        if isinstance(name, str):
            if name in names:
                check.add(
                    "PGF506",
                    f'duplicate schedule name "{name}" (also schedules[{names[name]}])',
                    (*base, "name") if "name" in item else base,
                    "give each schedule of a flow its own name",
                )
            else:
                names[name] = i
    return check.out


def _check_one(
    check: _Check, item: dict[str, Any], base: DocPath, i: int, input_schema: Any, count: int
) -> None:
    from pgflow_yaml.schema import did_you_mean

    label = f'schedule "{item["name"]}"' if isinstance(item.get("name"), str) else f"schedules[{i}]"
    for key in item:
        if key not in KEYS:
            hint = did_you_mean(str(key), KEYS) or "allowed keys: " + ", ".join(KEYS)
            check.add(
                "PGF502",
                f"unknown key {json.dumps(key)} in {label}",
                (*base, key),
                hint,
                key=True,
            )
    name = item.get("name")
    if "name" not in item and count > 1:
        check.add(
            "PGF501",
            f'{label} needs a name (each of several schedules has one; a lone one is "default")',
            base,
            "add name: ...",
        )
    elif "name" in item and (not isinstance(name, str) or not NAME_PATTERN.match(name)):
        check.add(
            "PGF501",
            f"{label}: name must be letters, digits, _ and -, starting with a letter or _, "
            f"at most 63 characters, not {_describe(name)}",
            (*base, "name"),
        )
    if "cron" not in item:
        check.add(
            "PGF501", f'{label} is missing the required key "cron"', base, 'e.g. cron: "0 3 * * *"'
        )
    elif not isinstance(item["cron"], str):
        check.add(
            "PGF501",
            f"cron of {label} must be a string, not {_describe(item['cron'])}",
            (*base, "cron"),
        )
    else:
        _check_cron(check, item["cron"], (*base, "cron"), label)
    tz = item.get("timezone", "UTC")
    if not isinstance(tz, str):
        check.add(
            "PGF501",
            f"timezone of {label} must be a string, not {_describe(tz)}",
            (*base, "timezone"),
        )
    else:
        try:
            zone(tz)
        except (ZoneInfoNotFoundError, ValueError):
            suggestion = did_you_mean(tz, _timezones())
            check.add(
                "PGF504",
                f"unknown timezone {json.dumps(tz)} in {label}",
                (*base, "timezone"),
                suggestion or "use an IANA name such as Europe/Berlin or UTC",
            )
    for key, choices in (("overlap", OVERLAPS), ("catch_up", CATCH_UPS)):
        if key in item and item[key] not in choices:
            shown = item[key]
            close = did_you_mean(shown, choices) if isinstance(shown, str) else None
            check.add(
                "PGF501",
                f"{key} of {label} must be one of {', '.join(choices)}, not {_describe(shown)}",
                (*base, key),
                close,
            )
    if "enabled" in item and not isinstance(item["enabled"], bool):
        check.add(
            "PGF501",
            f"enabled of {label} must be true or false, not {_describe(item['enabled'])}",
            (*base, "enabled"),
        )
    if "input" in item:
        _check_input(check, item["input"], input_schema, (*base, "input"), label)


def _check_cron(check: _Check, cron: str, path: DocPath, label: str) -> None:
    try:
        expand(cron)
    except CronError as exc:
        span = check.doc.span(path)
        if exc.field is not None:
            span = _field_span(span, cron, exc.field)
        check.add("PGF503", f"{exc} in {label}", path, exc.hint, span=span)


def _field_span(span: Span, cron: str, index: int) -> Span:
    """Narrow the span of a one-line cron string to its field ``index``."""
    if span.end_line not in (None, span.line) or span.end_col is None:
        return span
    width = span.end_col - span.col
    quoted = width == len(cron) + 2
    if width != len(cron) and not quoted:
        return span
    fields = list(re.finditer(r"\S+", cron))
    found = fields[index]
    start = span.col + (1 if quoted else 0) + found.start()
    return Span(span.path, span.line, start, span.line, start + len(found.group()))


def _check_input(check: _Check, value: Any, input_schema: Any, path: DocPath, label: str) -> None:
    if not isinstance(input_schema, dict | bool):
        return
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        validator = Draft202012Validator(input_schema)
        problems = sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.path)))
    except (SchemaError, ValueError, TypeError):
        return  # graph reports a bad input_schema
    for error in problems:
        where = (*path, *error.absolute_path)
        check.add(
            "PGF505",
            f"the input of {label} does not match input_schema: {error.message}",
            where,
            "runs of a schedule start with its input; it must satisfy input_schema",
        )


def _describe(value: Any) -> str:
    from pgflow_yaml.schema import describe

    return describe(value)


def build_schedules(doc: SourceDoc) -> tuple[Schedule, ...]:
    """Return the schedules of a document that passed :func:`check_schedules`."""
    items = doc.data.get("schedules") or []
    out = []
    for i, item in enumerate(items):
        out.append(
            Schedule(
                name=item.get("name", DEFAULT_NAME),
                cron=expand(item["cron"]),
                timezone=item.get("timezone", "UTC"),
                input=item.get("input", {}),
                overlap=item.get("overlap", "skip"),
                catch_up=item.get("catch_up", "latest"),
                enabled=item.get("enabled", True),
                span=doc.span(("schedules", i)),
            )
        )
    return tuple(out)
