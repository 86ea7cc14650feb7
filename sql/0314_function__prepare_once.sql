-- _prepare_once(name, statement, parameter_types): make sure the session holds prepared
-- statement `name` as exactly `statement` (a full `prepare <name>(...) as ...` text), prepared
-- once per session so that its generic plan is reused, not planned on every call.
-- The session's statement under that name is reused only if it is this text, prepared by SQL
-- PREPARE (from_sql) with these parameter types; any other (a session's own, an older version
-- of the core's, one made by a protocol Parse message, whose parameter types the client chose)
-- is deallocated and the text prepared again. The caller may have prepared this very text
-- itself under a search_path of its choosing, so the text must name everything with its schema:
-- PREPARE resolves the parameter types once and keeps them (the arguments are coerced to them,
-- inside the security-definer caller), so they are pg_catalog-qualified, and so is every type,
-- operator (operator(pg_catalog.=)...), function and table of the body; then the text means the
-- same under any search_path and no object of the session's (a pg_temp domain, an operator of a
-- schema of its own) is reached by it (tests/install/test_attacks.py). Internal (_claim_queue,
-- _claim_free, _fc_pick, _start_tasks, _start_picked, _start_ready_steps). Raises nothing of
-- its own.
-- A session keeps at most 48 of these statements (named pgflow_...): reading
-- pg_prepared_statements materializes every statement of the session, text included, on each
-- call, so a worker serving many flows would otherwise pay more on every claim the more flows it
-- has served (and hold their plans forever). Preparing one more deallocates the oldest first.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._prepare_once(
  name text,
  statement text,
  parameter_types pg_catalog.regtype[]
)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_old text;
begin
  if exists (
    select 1 from pg_catalog.pg_prepared_statements p
    where p.name = _prepare_once.name and p.statement = _prepare_once.statement and p.from_sql
      and p.parameter_types = _prepare_once.parameter_types
  ) then
    return;
  end if;
  if exists (select 1 from pg_catalog.pg_prepared_statements p where p.name = _prepare_once.name)
  then
    execute pg_catalog.format('deallocate %I', _prepare_once.name);
  end if;
  for v_old in
    select o.name from (
      select p.name, pg_catalog.row_number() over (order by p.prepare_time desc, p.name) as newer
      from pg_catalog.pg_prepared_statements p
      where p.from_sql and pg_catalog.starts_with(p.name, 'pgflow_')
    ) o
    where o.newer >= 48
  loop
    execute pg_catalog.format('deallocate %I', v_old);
  end loop;
  execute _prepare_once.statement;
end;
$$;
