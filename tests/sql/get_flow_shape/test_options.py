"""_get_flow_shape names every opt_* column as the registry's shape key, nulls left out."""

from pgflow_yaml.options import FLOW_OPTIONS, STEP_OPTIONS

from ..helpers import Conn, rows


def test_shape_options_camel_cases_opt_columns_and_drops_nulls(conn: Conn) -> None:
    (row,) = rows(
        conn,
        "select pgflow._shape_options("
        """'{"flow_slug": "f", "opt_max_attempts": 2, "opt_start_delay": null,"""
        """ "opt_some_new_thing": 7, "options": 1}'::jsonb) as options""",
    )
    assert row["options"] == {"maxAttempts": 2, "someNewThing": 7}


def test_shape_options_of_a_row_without_options_is_empty(conn: Conn) -> None:
    (row,) = rows(conn, """select pgflow._shape_options('{"flow_slug": "f"}') as options""")
    assert row["options"] == {}


def test_stored_options_carry_the_registry_shape_keys(conn: Conn) -> None:
    conn.execute("""select pgflow.create_flow('f', 4, 2, 30, '{"type": "object"}', 3, 'c.d')""")
    step_values = ", ".join(f"{key.sql_argument} => {i + 5}" for i, key in enumerate(STEP_OPTIONS))
    conn.execute(f"select pgflow.add_step('f', 'a', {step_values})")
    conn.execute("select pgflow.add_step('f', 'b')")
    (row,) = rows(conn, "select pgflow._get_flow_shape('f') as shape")
    shape = row["shape"]
    assert shape["options"] == {
        key.shape_key: value
        for key, value in zip(
            FLOW_OPTIONS,
            (4, 2, 30, {"type": "object"}, {"limit": 3, "key": "c.d"}),
            strict=True,
        )
    }
    assert shape["steps"][0]["options"] == {k.shape_key: i + 5 for i, k in enumerate(STEP_OPTIONS)}
    assert shape["steps"][1]["options"] == {}
