"""create_flow stores the flow's input_schema (object or boolean), keeps it when omitted and
removes it on null; the schema is an option: the shape functions carry it, never compare it."""

import psycopg
import pytest

from ..helpers import Conn, dump, rows

SCHEMA = {"type": "object", "required": ["source"], "properties": {"source": {"type": "string"}}}


def _stored(conn: Conn) -> object:
    (flow,) = rows(conn, "select opt_input_schema from pgflow.flows where flow_slug = 'etl'")
    return flow["opt_input_schema"]


def test_a_new_flow_has_no_input_schema_unless_given(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('etl')")
    assert _stored(conn) is None
    (flow,) = rows(
        conn, "select * from pgflow.create_flow('etl', input_schema => %s::jsonb)", (dump(SCHEMA),)
    )
    assert flow["opt_input_schema"] == SCHEMA
    assert _stored(conn) == SCHEMA


@pytest.mark.parametrize("schema", [True, False, {}])
def test_a_boolean_or_empty_schema_is_stored_as_is(conn: Conn, schema: object) -> None:
    conn.execute("select pgflow.create_flow('etl', input_schema => %s::jsonb)", (dump(schema),))
    assert _stored(conn) == schema


def test_an_omitted_input_schema_keeps_the_stored_one(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('etl', input_schema => %s::jsonb)", (dump(SCHEMA),))
    conn.execute("select pgflow.create_flow('etl', max_attempts => 5, timeout => 9)")
    conn.execute("select pgflow.create_flow('etl')")
    assert _stored(conn) == SCHEMA


@pytest.mark.parametrize("null", ["null", "'null'::jsonb"])
def test_null_removes_the_stored_input_schema(conn: Conn, null: str) -> None:
    conn.execute("select pgflow.create_flow('etl', input_schema => %s::jsonb)", (dump(SCHEMA),))
    conn.execute(f"select pgflow.create_flow('etl', input_schema => {null})")
    assert _stored(conn) is None


def test_setting_the_input_schema_keeps_the_other_options(conn: Conn) -> None:
    conn.execute(
        "select pgflow.create_flow('etl', max_attempts => 2, base_delay => 4, timeout => 9)"
    )
    conn.execute("select pgflow.create_flow('etl', input_schema => %s::jsonb)", (dump(SCHEMA),))
    (flow,) = rows(conn, "select * from pgflow.flows")
    assert (flow["opt_max_attempts"], flow["opt_base_delay"], flow["opt_timeout"]) == (2, 4, 9)


@pytest.mark.parametrize("schema", [["a"], "a string", 7])
def test_a_schema_that_is_not_an_object_or_boolean_is_refused(conn: Conn, schema: object) -> None:
    with pytest.raises(psycopg.errors.CheckViolation) as err:
        conn.execute("select pgflow.create_flow('etl', input_schema => %s::jsonb)", (dump(schema),))
    assert err.value.diag.constraint_name == "opt_input_schema_is_a_schema"


def test_the_shape_carries_the_schema_as_an_option_and_never_compares_it(conn: Conn) -> None:
    conn.execute("select pgflow.create_flow('etl', input_schema => %s::jsonb)", (dump(SCHEMA),))
    conn.execute("select pgflow.add_step('etl', 'a')")
    (row,) = rows(conn, "select pgflow._get_flow_shape('etl') as shape")
    assert row["shape"]["options"]["inputSchema"] == SCHEMA
    file_shape = dict(row["shape"], options={"inputSchema": {"type": "array"}})
    (compared,) = rows(
        conn, "select pgflow.compare_flow_shape('etl', %s::jsonb) as d", (dump(file_shape),)
    )
    assert compared["d"] == []
