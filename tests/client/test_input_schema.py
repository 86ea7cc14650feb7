"""Every start by slug checks the input against the input_schema stored with the flow: sync and
async, start and start_many, re-read when the schema changes (real PostgreSQL, no worker)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from pgflow_yaml import AsyncClient, Client
from pgflow_yaml.errors import DefinitionError, FlowNotFound, InvalidInput

Conn = psycopg.Connection[Any]

SCHEMA = {"type": "object", "required": ["source"], "properties": {"source": {"type": "string"}}}
WRONG_TYPE = (
    "the input does not match the input_schema of flow 'etl':\n"
    "  input['source']: 5 is not of type 'string'"
)


def make_flow(conn: Conn, schema: Any = SCHEMA, slug: str = "etl") -> None:
    conn.execute("select pgflow.create_flow(%s, input_schema => %s)", (slug, Jsonb(schema)))
    conn.execute("select pgflow.add_step(%s, 'extract')", (slug,))


def set_schema(conn: Conn, schema: Any, slug: str = "etl") -> None:
    conn.execute("select pgflow.create_flow(%s, input_schema => %s)", (slug, Jsonb(schema)))


def run_count(conn: Conn) -> int:
    row = conn.execute("select count(*) from pgflow.runs").fetchone()
    assert row is not None
    return int(row[0])


def test_start_by_slug_checks_the_stored_schema(conn: Conn, dsn: str) -> None:
    make_flow(conn)
    with Client(dsn) as client:
        with pytest.raises(InvalidInput) as wrong:
            client.start("etl", {"source": 5})
        with pytest.raises(InvalidInput) as missing:
            client.start("etl", {})
        assert run_count(conn) == 0
        client.start("etl", {"source": "s3://bucket"})
    assert str(wrong.value) == WRONG_TYPE
    assert str(missing.value) == (
        "the input does not match the input_schema of flow 'etl':\n"
        "  input: 'source' is a required property"
    )
    assert run_count(conn) == 1


def test_start_many_checks_every_input_against_the_stored_schema(conn: Conn, dsn: str) -> None:
    make_flow(conn)
    with Client(dsn) as client:
        with pytest.raises(InvalidInput) as info:
            client.start_many("etl", [{"source": "a"}, {"source": 5}])
        assert run_count(conn) == 0
        ids = client.start_many("etl", [{"source": "a"}, {"source": "b"}])
        assert [client.get(i).input for i in ids] == [{"source": "a"}, {"source": "b"}]
    assert str(info.value) == (
        "the input does not match the input_schema of flow 'etl':\n"
        "  inputs[1]['source']: 5 is not of type 'string'"
    )


def test_the_async_client_checks_start_and_start_many(conn: Conn, dsn: str) -> None:
    make_flow(conn)

    async def refused(call: Callable[[AsyncClient], Awaitable[Any]]) -> str:
        async with AsyncClient(dsn) as client:
            with pytest.raises(InvalidInput) as info:
                await call(client)
        return str(info.value)

    assert asyncio.run(refused(lambda c: c.start("etl", {"source": 5}))) == WRONG_TYPE
    assert asyncio.run(refused(lambda c: c.start_many("etl", [{}, {"source": "b"}]))) == (
        "the input does not match the input_schema of flow 'etl':\n"
        "  inputs[0]: 'source' is a required property"
    )
    assert run_count(conn) == 0

    async def started() -> list[str]:
        async with AsyncClient(dsn) as client:
            assert await client.input_schema("etl") == SCHEMA
            one = await client.start("etl", {"source": "a"})
            return [one, *await client.start_many("etl", [{"source": "b"}])]

    assert len(set(asyncio.run(started()))) == 2
    assert run_count(conn) == 2


@pytest.mark.parametrize("many", [False, True], ids=["start", "start_many"])
def test_a_changed_schema_is_read_again_before_anything_starts(
    conn: Conn, dsn: str, many: bool
) -> None:
    make_flow(conn)
    with Client(dsn) as client:

        def start(value: Any) -> None:
            if many:
                client.start_many("etl", [value])
            else:
                client.start("etl", value)

        start({"source": "a"})  # the client has read SCHEMA now
        set_schema(conn, {"type": "object", "required": ["day"]})
        with pytest.raises(InvalidInput, match=r"^.*\n  input.*: 'day' is a required property$"):
            start({"source": "b"})  # fine under SCHEMA: the start statement refused to start
        assert run_count(conn) == 1
        set_schema(conn, None)
        start({"source": 5})  # no schema any more
        assert run_count(conn) == 2


def test_async_client_reads_a_changed_schema_again(conn: Conn, dsn: str) -> None:
    make_flow(conn)

    async def main() -> None:
        async with AsyncClient(dsn) as client:
            await client.start("etl", {"source": "a"})
            set_schema(conn, False)
            with pytest.raises(InvalidInput, match="False schema does not allow"):
                await client.start("etl", {"source": "b"})

    asyncio.run(main())
    assert run_count(conn) == 1


def test_a_flow_file_and_the_stored_schema_are_both_checked(
    conn: Conn, dsn: str, tmp_path: Any
) -> None:
    make_flow(conn, {"type": "object", "required": ["stored"]})
    flow_file = tmp_path / "etl.yaml"
    flow_file.write_text(
        "slug: etl\ninput_schema: {type: object, required: [filed]}\n"
        "steps:\n  - slug: extract\n    handler: etl:extract\n"
    )
    with Client(dsn, flows=[flow_file]) as client:
        with pytest.raises(InvalidInput, match="'filed' is a required property"):
            client.start("etl", {"stored": 1})
        with pytest.raises(InvalidInput, match="'stored' is a required property"):
            client.start("etl", {"filed": 1})
        client.start(flow_file, {"filed": 1, "stored": 1})
    assert run_count(conn) == 1


def test_the_schema_is_read_by_its_own_draft(conn: Conn, dsn: str) -> None:
    draft4 = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "properties": {"n": {"maximum": 5, "exclusiveMaximum": True}},
    }
    make_flow(conn, draft4)
    with Client(dsn) as client:
        with pytest.raises(InvalidInput, match=r"input\['n'\]: 5 is greater than or equal to"):
            client.start("etl", {"n": 5})
        client.start("etl", {"n": 4})


def test_a_stored_schema_that_is_not_a_json_schema_is_named(conn: Conn, dsn: str) -> None:
    make_flow(conn, {"type": "strin"})  # raw SQL: the core checks only object or boolean
    with Client(dsn) as client, pytest.raises(DefinitionError) as info:
        client.start("etl", "x")
    assert str(info.value).startswith(
        "the input_schema stored with flow 'etl' is not a valid JSON Schema: 'strin' is not valid"
    )
    assert run_count(conn) == 0


def test_input_schema_reads_the_stored_schema(conn: Conn, dsn: str) -> None:
    make_flow(conn)
    make_flow(conn, None, slug="free")
    with Client(dsn) as client:
        assert client.input_schema("etl") == SCHEMA
        assert client.input_schema("free") is None
        with pytest.raises(FlowNotFound, match="no flow 'nope'"):
            client.input_schema("nope")
        with pytest.raises(FlowNotFound, match="no flow 'nope'"):
            client.start_many("nope", [{}])
