-- _archive_messages(flow_slug, msg_ids): move the given messages of the flow's queue to its
-- archive, as pgmq.archive(queue, msg_ids) does (the same columns; ids not in the queue are
-- ignored). pgmq.archive builds and plans its statement on every call (two format_table_name
-- calls, parse, plan: most of its cost, ~0.3 ms of a one-task complete_tasks); this statement
-- is prepared once per session and queue (pg_prepared_statements name
-- pgflow_archive_<md5 of the queue table>) and reused by name, only when it is this text,
-- SQL-prepared with these parameter types (pgflow._prepare_once); every name in the text is
-- schema-qualified, so a copy the caller prepared first under a search_path of its own means
-- the same and runs only this statement (tests/install/test_attacks.py).
-- Internal (_complete_task, _fail_task, complete_tasks). Returns how many messages moved.
-- Raises nothing of its own.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._archive_messages(flow_slug text, msg_ids bigint[])
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode to force_generic_plan
as $$
declare
  v_queue text := pgmq.format_table_name(_archive_messages.flow_slug, 'q');
  v_name text := 'pgflow_archive_' || pg_catalog.md5(v_queue);
  v_moved int;
begin
  perform pgflow._prepare_once(
    v_name,
    pg_catalog.format(
      $q$prepare %3$I(pg_catalog.int8[]) as
        with archived as (
          delete from pgmq.%1$I q
          where q.msg_id operator(pg_catalog.=) any ($1)
          returning q.msg_id, q.vt, q.read_ct, q.enqueued_at, q.last_read_at, q.message, q.headers
        ),
        moved as (
          insert into pgmq.%2$I (msg_id, vt, read_ct, enqueued_at, last_read_at, message, headers)
          select a.msg_id, a.vt, a.read_ct, a.enqueued_at, a.last_read_at, a.message, a.headers
          from archived a
          returning 1
        )
        select pg_catalog.count(*)::pg_catalog.int4 from moved$q$,
      v_queue, pgmq.format_table_name(_archive_messages.flow_slug, 'a'), v_name
    ),
    array['pg_catalog.int8[]']::pg_catalog.regtype[]
  );
  execute pg_catalog.format('execute %I(%L)', v_name, _archive_messages.msg_ids) into v_moved;
  return v_moved;
end;
$$;
