"""add_step appends steps in call order with their dependency edges and defaults."""

from ..helpers import Conn, add_flow, rows


def test_appends_steps_in_order(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}, {"slug": "b"}, {"slug": "c", "deps": ["a", "b"]}])
    assert rows(conn, "select step_slug, step_index, deps_count from pgflow.steps order by 2") == [
        {"step_slug": "a", "step_index": 0, "deps_count": 0},
        {"step_slug": "b", "step_index": 1, "deps_count": 0},
        {"step_slug": "c", "step_index": 2, "deps_count": 2},
    ]
    assert rows(conn, "select dep_slug, step_slug from pgflow.deps order by 1") == [
        {"dep_slug": "a", "step_slug": "c"},
        {"dep_slug": "b", "step_slug": "c"},
    ]


def test_defaults(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('f')")
    (step,) = rows(conn, "select * from pgflow.add_step('f', 'a')")
    assert step["step_type"] == "single"
    assert (step["when_unmet"], step["when_exhausted"]) == ("skip", "fail")
    assert step["opt_max_attempts"] is None and step["opt_timeout"] is None
