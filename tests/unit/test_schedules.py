"""The schedules list of a flow file: positioned diagnostics, the model, cron arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pgflow_yaml.schedules import CronError, Schedule, due_times, expand, next_times

from .helpers import check

FLOW = """
slug: f
input_schema:
  type: object
  properties:
    region: {type: string}
  required: [region]
schedules:
%s
steps:
  - slug: a
    handler: mod:fn
"""


def _report(schedules: str) -> list[tuple[str, int | None, int | None, str, str | None]]:
    report = check(FLOW % schedules)
    return [(d.code, d.line, d.col, d.message, d.hint) for d in report.diagnostics]


def test_a_valid_schedule_builds_the_model() -> None:
    report = check(
        FLOW
        % """  - cron: "@daily"
    timezone: Europe/Berlin
    input: {region: eu}
    catch_up: all"""
    )
    assert report.ok, report.render("text")
    (schedule,) = report.flows[0].schedules
    assert schedule == Schedule(
        name="default",
        cron="0 0 * * *",
        timezone="Europe/Berlin",
        input={"region": "eu"},
        catch_up="all",
    )


def test_the_out_of_range_field_is_pointed_at() -> None:
    assert _report('  - {name: n, cron: "0 25 * * *", input: {region: eu}}') == [
        (
            "PGF503",
            8,
            24,
            'cron field 2 (hour) is out of range: 25 is not in 0-23 in schedule "n"',
            "hour values are 0-23",
        )
    ]


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        (
            "* * *",
            "a cron expression has 5 fields (minute hour day-of-month month day-of-week), not 3",
        ),
        (
            "0 0 * * * *",
            "a cron expression has 5 fields (minute hour day-of-month month day-of-week), not 6",
        ),
        ("@often", 'unknown cron macro "@often"'),
        ("* * 32 * *", "cron field 3 (day of month) is out of range: 32 is not in 1-31"),
        ("* * * 13 *", "cron field 4 (month) is out of range: 13 is not in 1-12"),
        ("* * * * 8", "cron field 5 (day of week) is out of range: 8 is not in 0-7"),
    ],
)
def test_bad_cron_expressions(cron: str, message: str) -> None:
    with pytest.raises(CronError) as err:
        expand(cron)
    assert str(err.value) == message


def test_cron_accepts_lists_ranges_steps_and_last_day() -> None:
    assert expand("  */15  9-17 L * 1-5 ") == "*/15 9-17 L * 1-5"
    assert expand("@HOURLY") == "0 * * * *"


def test_timezone_input_names_and_keys_are_checked() -> None:
    got = _report(
        """  - name: n
    cron: "@daily"
    timezone: Europe/Berln
    input: {region: 5}
    overlp: skip
  - name: n
    cron: "@hourly"
    catch_up: sometimes
    input: {region: eu}
  - cron: "@hourly"
    input: {region: eu}"""
    )
    assert got == [
        (
            "PGF504",
            10,
            15,
            'unknown timezone "Europe/Berln" in schedule "n"',
            'did you mean "Europe/Berlin"?',
        ),
        (
            "PGF505",
            11,
            21,
            "the input of schedule \"n\" does not match input_schema: 5 is not of type 'string'",
            "runs of a schedule start with its input; it must satisfy input_schema",
        ),
        ("PGF502", 12, 5, 'unknown key "overlp" in schedule "n"', 'did you mean "overlap"?'),
        (
            "PGF506",
            13,
            11,
            'duplicate schedule name "n" (also schedules[0])',
            "give each schedule of a flow its own name",
        ),
        (
            "PGF501",
            15,
            15,
            'catch_up of schedule "n" must be one of none, latest, all, not a string ("sometimes")',
            None,
        ),
        (
            "PGF501",
            17,
            5,
            "schedules[2] needs a name (each of several schedules has one; a lone one is"
            ' "default")',
            "add name: ...",
        ),
    ]


def test_schedules_must_be_a_list_of_mappings() -> None:
    assert _report("  nightly: 1")[0][:4] == (
        "PGF501",
        8,
        3,
        "schedules must be a list, not a mapping",
    )
    assert _report("  - 5")[0][:4] == (
        "PGF501",
        8,
        5,
        "schedules[0] must be a mapping, not a number (5)",
    )


def test_next_times_in_a_timezone() -> None:
    after = datetime(2026, 3, 28, 12, tzinfo=UTC)
    assert next_times("30 2 * * *", "Europe/Berlin", after) == [
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 31, 0, 30, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("policy", "fired"),
    [("none", []), ("latest", ["03:00"]), ("all", ["01:00", "02:00", "03:00"])],
)
def test_catch_up_policies(policy: str, fired: list[str]) -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    now = datetime(2026, 1, 1, 3, 30, tzinfo=UTC)
    to_fire, through = due_times("0 * * * *", "UTC", policy, since, now)  # type: ignore[arg-type]
    assert [t.strftime("%H:%M") for t in to_fire] == fired
    assert through == datetime(2026, 1, 1, 3, tzinfo=UTC)
