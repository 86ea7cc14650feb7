"""_get_flow_shape names every opt_* column as the registry's shape key, nulls left out."""

from pgflow_yaml.options import FLOW_OPTIONS, STEP_OPTIONS, shape_name, stored_fields

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
    conn.execute(
        """select pgflow.create_flow('f', 4, 2, 30, '{"type": "object"}', priority => 9,"""
        """ concurrency_limit => 3, concurrency_key => 'c.d')"""
    )
    # every stored field of every step option: an integer, or a key path for the *_key fields
    fields = [field for key in STEP_OPTIONS for field in stored_fields(key, "step")]
    values = {f: f"run.k{i}" if f.endswith("_key") else i + 5 for i, f in enumerate(fields)}
    step_values = ", ".join(f"{field} => {value!r}" for field, value in values.items())
    conn.execute(f"select pgflow.add_step('f', 'a', {step_values.replace(chr(34), chr(39))})")
    conn.execute("select pgflow.add_step('f', 'b')")
    (row,) = rows(conn, "select pgflow._get_flow_shape('f') as shape")
    shape = row["shape"]
    flow_values: dict[str, object] = {"max_attempts": 4, "base_delay": 2, "timeout": 30}
    flow_values |= {"priority": 9, "input_schema": {"type": "object"}}
    flow_values |= {"concurrency": {"limit": 3, "key": "c.d"}}
    assert shape["options"] == {key.shape_key: flow_values[key.name] for key in FLOW_OPTIONS}
    assert shape["steps"][0]["options"] == {shape_name(f): v for f, v in values.items()}
    assert shape["steps"][1]["options"] == {}
