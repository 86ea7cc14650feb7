"""A comparable description of what schemas ``pgflow`` and ``pgmq`` hold, read from the catalog.

Two databases have the same schema when ``catalog_snapshot`` returns equal dicts: tables and
their columns, constraints, indexes, sequences, views, composite types, enums and domains,
functions (their full definitions, security and settings), triggers, row-level security and
its policies, and privileges. Column positions are left out (a column added by a migration
lands last), as are object ids.
"""

from __future__ import annotations

from typing import Any

import psycopg

SCHEMAS = ["pgflow", "pgmq"]

_QUERIES: dict[str, str] = {
    "relations": """
        select n.nspname || '.' || c.relname, c.relkind::text, coalesce(c.relacl::text[], '{}'),
               c.relrowsecurity, c.relforcerowsecurity
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
    """,
    "columns": """
        select n.nspname || '.' || c.relname || '.' || a.attname,
               format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text,
               coalesce(a.attacl::text[], '{}')
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        join pg_namespace n on n.oid = c.relnamespace
        left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p', 'v', 'm', 'f')
          and a.attnum > 0 and not a.attisdropped
    """,
    "constraints": """
        select n.nspname || '.' || coalesce(c.relname, t.typname) || '.' || k.conname,
               k.contype::text, pg_get_constraintdef(k.oid), k.condeferrable, k.condeferred
        from pg_constraint k
        join pg_namespace n on n.oid = k.connamespace
        left join pg_class c on c.oid = k.conrelid
        left join pg_type t on t.oid = k.contypid
        where n.nspname = any(%(schemas)s)
    """,
    "indexes": """
        select n.nspname || '.' || c.relname, pg_get_indexdef(c.oid)
        from pg_index i
        join pg_class c on c.oid = i.indexrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%(schemas)s)
    """,
    "views": """
        select n.nspname || '.' || c.relname, pg_get_viewdef(c.oid)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%(schemas)s) and c.relkind in ('v', 'm')
    """,
    "sequences": """
        select s.schemaname || '.' || s.sequencename, s.data_type::text, s.start_value,
               s.increment_by, s.max_value, s.cycle
        from pg_sequences s where s.schemaname = any(%(schemas)s)
    """,
    "types": """
        select n.nspname || '.' || t.typname, t.typtype::text,
               coalesce((select array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                          order by a.attnum)
                         from pg_attribute a
                         where a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped
                           and t.typtype = 'c'), '{}'),
               coalesce((select array_agg(e.enumlabel::text order by e.enumsortorder)
                         from pg_enum e where e.enumtypid = t.oid), '{}'),
               format_type(t.typbasetype, t.typtypmod)
        from pg_type t
        join pg_namespace n on n.oid = t.typnamespace
        left join pg_class c on c.oid = t.typrelid
        where n.nspname = any(%(schemas)s)
          and t.typtype in ('c', 'e', 'd')
          and (t.typtype <> 'c' or c.relkind = 'c')
    """,
    "functions": """
        select p.oid::regprocedure::text, pg_get_functiondef(p.oid),
               coalesce(p.proacl::text[], '{null}')
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any(%(schemas)s) and p.prokind in ('f', 'p', 'w')
    """,
    "aggregates": """
        select p.oid::regprocedure::text, pg_get_function_result(p.oid)
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any(%(schemas)s) and p.prokind = 'a'
    """,
    "triggers": """
        select n.nspname || '.' || c.relname || '.' || t.tgname, pg_get_triggerdef(t.oid),
               t.tgenabled::text
        from pg_trigger t
        join pg_class c on c.oid = t.tgrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%(schemas)s) and not t.tgisinternal
    """,
    "policies": """
        select n.nspname || '.' || c.relname || '.' || p.polname, p.polcmd::text,
               p.polpermissive, p.polroles::regrole[]::text[],
               pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
        from pg_policy p
        join pg_class c on c.oid = p.polrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%(schemas)s)
    """,
    "schemas": """
        select n.nspname, coalesce(n.nspacl::text[], '{}')
        from pg_namespace n where n.nspname = any(%(schemas)s)
    """,
    "default_privileges": """
        select coalesce(n.nspname, '*') || ':' || d.defaclobjtype::text, d.defaclacl::text[]
        from pg_default_acl d left join pg_namespace n on n.oid = d.defaclnamespace
        where n.nspname is null or n.nspname = any(%(schemas)s)
    """,
}


def catalog_snapshot(
    conn: psycopg.Connection[Any], schemas: list[str] | None = None
) -> dict[str, dict[str, tuple[Any, ...]]]:
    """Return, per kind of object, ``{qualified name: its description}`` for ``schemas``."""
    params = {"schemas": schemas or SCHEMAS}
    snapshot: dict[str, dict[str, tuple[Any, ...]]] = {}
    for kind, query in _QUERIES.items():
        rows = conn.execute(query, params).fetchall()
        snapshot[kind] = {row[0]: tuple(row[1:]) for row in rows}
    return snapshot


def differences(
    left: dict[str, dict[str, tuple[Any, ...]]], right: dict[str, dict[str, tuple[Any, ...]]]
) -> list[str]:
    """Return one readable line per object that differs between two snapshots."""
    lines = []
    for kind in sorted(set(left) | set(right)):
        a, b = left.get(kind, {}), right.get(kind, {})
        for name in sorted(set(a) | set(b)):
            if name not in b:
                lines.append(f"{kind} {name}: only in the first")
            elif name not in a:
                lines.append(f"{kind} {name}: only in the second")
            elif a[name] != b[name]:
                lines.append(f"{kind} {name}: {a[name]!r} != {b[name]!r}")
    return lines
