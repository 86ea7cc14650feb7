-- retry_run(run_id): start a failed or cancelled run again. Completed and skipped steps keep
-- their state and outputs; every other step (failed, cancelled, or left open by an older core)
-- and its tasks start from scratch (the old tasks are deleted with their queue messages,
-- archived or not): dependencies and map sizes are recounted from the kept steps, the run goes
-- back to 'started' and advances as a new run would (sending run:started, then the step events
-- of a new run); under a full flow concurrency limit it goes to 'queued' instead and starts when a
-- slot frees. Returns the run row.
-- Raises: 'Run "%" does not exist'; 'Run "%" is % (only failed or cancelled runs can be retried)'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.retry_run(run_id uuid)
returns pgflow.runs
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan to off
set jit to off
as $$
#variable_conflict use_column
declare
  v_run pgflow.runs;
  v_reset text[];
  v_input_length int;
  v_msg_ids bigint[];
begin
  select * into v_run from pgflow.runs r where r.run_id = retry_run.run_id for no key update;
  if not found then
    raise exception 'Run "%" does not exist', retry_run.run_id;
  end if;
  if v_run.status not in ('failed', 'cancelled') then
    raise exception 'Run "%" is % (only failed or cancelled runs can be retried)',
      retry_run.run_id, v_run.status;
  end if;

  if jsonb_typeof(v_run.input) = 'array' then
    v_input_length := jsonb_array_length(v_run.input);
  end if;

  v_reset := array(
    select ss.step_slug from pgflow.step_states ss
    where ss.run_id = retry_run.run_id and ss.status not in ('completed', 'skipped')
  );

  -- the tasks start again from scratch: their rows go, and their messages (archived when the
  -- run failed or was cancelled) with them, which nothing would name any more (prune finds a
  -- run's messages by its tasks' message ids)
  with deleted as (
    delete from pgflow.step_tasks t
    where t.run_id = retry_run.run_id and t.step_slug = any(v_reset)
    returning t.message_id
  )
  select array_agg(d.message_id) filter (where d.message_id is not null) into v_msg_ids
  from deleted d;
  perform pgflow._delete_messages(v_run.flow_slug, v_msg_ids);

  update pgflow.step_states ss
  set status = 'created',
      remaining_tasks = null,
      output = null,
      error_message = null,
      skip_reason = null,
      started_at = null,
      completed_at = null,
      failed_at = null,
      skipped_at = null,
      cancelled_at = null,
      remaining_deps = (
        select count(*) from pgflow.deps d
        join pgflow.step_states p on p.run_id = ss.run_id and p.step_slug = d.dep_slug
        where d.flow_slug = ss.flow_slug and d.step_slug = ss.step_slug
          and p.status not in ('completed', 'skipped')
      ),
      initial_tasks = case
        when s.step_type = 'single' then 1
        when s.deps_count = 0 then v_input_length
        else (
          select case
            when p.status = 'completed' and jsonb_typeof(p.output) = 'array'
              then jsonb_array_length(p.output)
            when p.status in ('completed', 'skipped') then 0
          end
          from pgflow.deps d
          join pgflow.step_states p on p.run_id = ss.run_id and p.step_slug = d.dep_slug
          where d.flow_slug = ss.flow_slug and d.step_slug = ss.step_slug
        )
      end
  from pgflow.steps s
  where ss.run_id = retry_run.run_id
    and ss.step_slug = any(v_reset)
    and s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug;

  update pgflow.runs r
  set status = 'started',
      failed_at = null,
      cancelled_at = null,
      output = null,
      remaining_steps = cardinality(v_reset)
  where r.run_id = retry_run.run_id
  returning * into v_run;
  v_run := pgflow._queue_retried_run(v_run);  -- flow concurrency: 'queued' when no slot is free
  if to_regnamespace('realtime') is not null then
    perform pgflow._emit('run:started', pgflow._run_event(v_run), v_run.run_id);
  end if;

  perform pgflow._advance_run(retry_run.run_id);

  select * into v_run from pgflow.runs r where r.run_id = retry_run.run_id;
  return v_run;
end;
$$;
