"""The flow-shape SQL files (sql/04xx) install again over themselves, as the installer needs."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgflow_yaml.resources import sql_dir
from pgflow_yaml.shape import flow_shape
from tests.compile.helpers import apply, order_pipeline

SHAPE_FILES = ("0400_", "0410_", "0420_")


def test_reinstalling_the_shape_functions_keeps_them_working(conn: psycopg.Connection[Any]) -> None:
    files = sorted(f for f in sql_dir().iterdir() if f.name.startswith(SHAPE_FILES))
    assert [f.name for f in files] == [
        "0400_function__get_flow_shape.sql",
        "0410_function_compare_flow_shape.sql",
        "0420_function_assert_flow_shape.sql",
    ]
    apply(conn, order_pipeline())
    for _ in range(2):
        for file in files:
            conn.execute(file.read_text(encoding="utf-8"))
    row = conn.execute(
        "select pgflow._get_flow_shape('order_pipeline') = %s::jsonb",
        (Jsonb(flow_shape(order_pipeline())),),
    ).fetchone()
    assert row == (True,)
    settings = conn.execute(
        "select p.proname, p.prosecdef, p.proconfig from pg_proc p"
        " where p.pronamespace = 'pgflow'::regnamespace"
        " and p.proname in ('_get_flow_shape', 'compare_flow_shape', 'assert_flow_shape')"
        " order by 1"
    ).fetchall()
    assert settings == [
        ("_get_flow_shape", False, ["search_path=pg_catalog, pg_temp"]),
        ("assert_flow_shape", False, ["search_path=pg_catalog, pg_temp"]),
        ("compare_flow_shape", True, ["search_path=pg_catalog, pg_temp"]),
    ]
