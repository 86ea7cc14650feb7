"""The SQL core's files apply again on an installed database without error or data loss."""

from pgflow_yaml.resources import sql_dir

from ..helpers import Conn, add_flow, claim, complete, run_row, start

# the files of the orchestration core (tables, types, functions); the 04xx shape functions and
# the 09xx installer files have their own owners and tests
CORE_PREFIXES = ("00", "01", "02", "03", "05", "06", "07", "08")


def test_core_files_apply_twice_and_keep_runs(conn: Conn) -> None:
    add_flow(conn, "f", [{"slug": "a"}])
    run_id = start(conn, "f")
    files = sorted(
        (f for f in sql_dir().iterdir() if f.name.endswith(".sql") and f.name[:2] in CORE_PREFIXES),
        key=lambda f: f.name,
    )
    with conn.transaction():
        conn.execute("\n".join(f.read_text(encoding="utf-8") for f in files))
    (task,) = claim(conn, "f")
    complete(conn, task, "ok")
    assert run_row(conn, run_id)["output"] == {"a": "ok"}
