-- Type step_task_record: a started task as start_tasks returns it (the pgflow 0.8.1 shape).
-- Raises nothing; created only when missing.
set search_path = pg_catalog, pg_temp;

do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_type t
    join pg_catalog.pg_namespace n on n.oid = t.typnamespace
    where n.nspname = 'pgflow' and t.typname = 'step_task_record'
  ) then
    create type pgflow.step_task_record as (
      flow_slug text,
      run_id uuid,
      step_slug text,
      input jsonb,
      msg_id bigint,
      task_index int
    );
  end if;
end;
$$;
