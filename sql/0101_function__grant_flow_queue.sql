-- _grant_flow_queue(flow_slug): give the role pgflow_worker exactly what the worker protocol
-- needs on the flow's pgmq queue, after revoking whatever else it held there: on q_<slug>
-- select, update of (vt, read_ct, last_read_at) and delete (pgmq.read, read_with_poll, set_vt,
-- archive); on a_<slug> insert and select of msg_id (pgmq.archive's insert ... returning
-- msg_id). Never insert on q_<slug>: a worker cannot send into a queue. A no-op when the queue
-- does not exist, or the roles were not installed in this database (no role pgflow_worker, or
-- no USAGE of it on schema pgflow). Internal: create_flow calls it when it creates the
-- queue, sql/roles/0960 for the queues of existing flows. Runs as its caller, who must own the
-- queue tables (create_flow's caller just created them).
-- Raises: permission denied when the caller may not grant on the queue tables.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._grant_flow_queue(flow_slug text)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_queue regclass := pg_catalog.to_regclass(
    'pgmq.' || pg_catalog.quote_ident(pgmq.format_table_name(_grant_flow_queue.flow_slug, 'q'))
  );
  v_archive regclass := pg_catalog.to_regclass(
    'pgmq.' || pg_catalog.quote_ident(pgmq.format_table_name(_grant_flow_queue.flow_slug, 'a'))
  );
  v_columns text;
begin
  if v_queue is null
    or not exists (select 1 from pg_catalog.pg_roles r where r.rolname = 'pgflow_worker') then
    return;
  end if;
  if not pg_catalog.has_schema_privilege('pgflow_worker', 'pgflow', 'usage') then
    return;  -- the role exists in the cluster, but `--roles` was never applied to this database
  end if;

  select pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' order by a.attnum)
  into v_columns
  from pg_catalog.pg_attribute a
  where a.attrelid = v_queue
    and a.attname in ('vt', 'read_ct', 'last_read_at')
    and not a.attisdropped;

  execute pg_catalog.format('revoke all on table %s from pgflow_worker', v_queue);
  execute pg_catalog.format(
    'grant select, delete, update (%s) on table %s to pgflow_worker', v_columns, v_queue
  );
  if v_archive is not null then
    execute pg_catalog.format('revoke all on table %s from pgflow_worker', v_archive);
    execute pg_catalog.format(
      'grant insert, select (msg_id) on table %s to pgflow_worker', v_archive
    );
  end if;
end;
$$;
