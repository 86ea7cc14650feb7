-- Type claimed_task: a task claim_tasks handed to a worker. attempt counts the task's starts
-- (1, 2, ...); start_seq names this start alone and fences later reports; timeout is the step's
-- effective timeout in seconds; input is exactly the handler input.
-- Raises nothing; created only when missing.
set search_path = pg_catalog, pg_temp;

do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_type t
    join pg_catalog.pg_namespace n on n.oid = t.typnamespace
    where n.nspname = 'pgflow' and t.typname = 'claimed_task'
  ) then
    create type pgflow.claimed_task as (
      flow_slug text,
      run_id uuid,
      step_slug text,
      task_index int,
      msg_id bigint,
      attempt int,
      timeout int,
      input jsonb,
      start_seq bigint
    );
  end if;
end;
$$;
