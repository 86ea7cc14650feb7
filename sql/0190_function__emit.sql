-- _emit(event, payload, run_id): send one Supabase Realtime event the way pgflow 0.8.1 does:
-- realtime.send(payload, event, 'pgflow:run:<run_id>', false), so that pgflow's client libraries
-- and dashboards follow runs on this core. A no-op where there is no
-- realtime.send(jsonb, text, text, boolean) (plain PostgreSQL), where the current user may not
-- execute it, or where its owner is neither a superuser nor the current user (the core's
-- functions run as their owner: a function planted in a schema named realtime by another role
-- must not run with those rights; pg_has_role would not do, a superuser belongs to every role). Errors of realtime.send are not caught, as in 0.8.1 (Supabase's own
-- realtime.send catches them and raises a WARNING).
-- Callers gate each call, and the payload they build, with to_regnamespace('realtime') is not
-- null (well under a microsecond, a tenth of a call of a function with a pinned search_path), so
-- that a database without Realtime pays next to nothing for events. Internal. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._emit(event text, payload jsonb, run_id uuid)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_send regprocedure := pg_catalog.to_regprocedure(
    'realtime.send(pg_catalog.jsonb, pg_catalog.text, pg_catalog.text, pg_catalog.bool)'
  );
begin
  if v_send is null
    or not pg_catalog.has_function_privilege(v_send, 'execute')
    or not exists (
      select 1
      from pg_catalog.pg_proc p
      join pg_catalog.pg_roles o on o.oid = p.proowner
      where p.oid = v_send
        and (o.rolsuper or p.proowner = current_user::regrole)
    )
  then
    return;
  end if;
  perform realtime.send(_emit.payload, _emit.event, 'pgflow:run:' || _emit.run_id::text, false);
end;
$$;
