-- signal(run_id, step_slug, payload, task_index): deliver a signal to a signal step (a step with
-- no handler, signal_schema set): a waiting step completes with the payload as its output and
-- the run advances, all in the caller's transaction (a signal sent with the application's own
-- write commits or rolls back with it). A signal map step takes one signal per element,
-- addressed by task_index, and completes with the payloads in task order once it has them all.
-- A signal for a step that is not waiting yet is kept in pgflow.pending_signals and applied
-- when the step becomes ready. The payload's schema is checked by the caller
-- (pgflow_yaml.Client); here only that it is JSON.
-- Returns 'completed' (the step completed now) or 'pending' (kept: the step is not ready yet,
-- or a map step still waits for other elements).
-- Raises (SQLSTATE PF010 unless said): 'Run "%" does not exist' (P0002);
-- 'the payload of a signal must be JSON, got null'; 'Flow "%" has no step "%"';
-- 'Step "%" of flow "%" is not a signal step (it runs a handler)';
-- 'Step "%" has one task, task_index must be 0 (got %)';
-- 'task_index of map step "%" must be between 0 and % (got %)';
-- 'Run "%" is %: signals are refused';
-- 'Step "%" of run "%" already completed: a second signal is refused';
-- 'Step "%" of run "%" is %: signals are refused';
-- 'Step "%" of run "%" already has a signal for task %'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.signal(
  run_id uuid,
  step_slug text,
  payload jsonb,
  task_index int default 0
)
returns text
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_run pgflow.runs;
  v_step pgflow.steps;
  v_state pgflow.step_states;
begin
  select * into v_run from pgflow.runs r where r.run_id = signal.run_id for no key update;
  if not found then
    raise exception 'Run "%" does not exist', signal.run_id using errcode = 'P0002';
  end if;
  if signal.payload is null then
    raise exception 'the payload of a signal must be JSON, got null' using errcode = 'PF010';
  end if;
  select * into v_step from pgflow.steps s
  where s.flow_slug = v_run.flow_slug and s.step_slug = signal.step_slug;
  if not found then
    raise exception 'Flow "%" has no step "%"', v_run.flow_slug, signal.step_slug
      using errcode = 'PF010';
  end if;
  if v_step.signal_schema is null then
    raise exception 'Step "%" of flow "%" is not a signal step (it runs a handler)',
      signal.step_slug, v_run.flow_slug using errcode = 'PF010';
  end if;
  if v_step.step_type = 'single' and signal.task_index is distinct from 0 then
    raise exception 'Step "%" has one task, task_index must be 0 (got %)',
      signal.step_slug, coalesce(signal.task_index::text, 'null') using errcode = 'PF010';
  end if;
  if v_run.status not in ('started', 'queued') then
    raise exception 'Run "%" is %: signals are refused', signal.run_id, v_run.status
      using errcode = 'PF010';
  end if;

  select * into v_state from pgflow.step_states ss
  where ss.run_id = signal.run_id and ss.step_slug = signal.step_slug;
  if v_step.step_type = 'map' and (
    signal.task_index is null or signal.task_index < 0
    or (v_state.status = 'waiting' and signal.task_index >= v_state.initial_tasks)
  ) then
    raise exception 'task_index of map step "%" must be between 0 and % (got %)',
      signal.step_slug,
      case
        when v_state.status = 'waiting' then (v_state.initial_tasks - 1)::text
        else 'its size - 1'
      end,
      coalesce(signal.task_index::text, 'null') using errcode = 'PF010';
  end if;
  if v_state.status = 'waiting' and v_step.step_type = 'single' then
    perform pgflow._complete_step(signal.run_id, signal.step_slug, signal.payload);
    perform pgflow._advance_run(signal.run_id);
    return 'completed';
  end if;
  if v_state.status = 'completed' then
    raise exception 'Step "%" of run "%" already completed: a second signal is refused',
      signal.step_slug, signal.run_id using errcode = 'PF010';
  end if;
  if v_state.status not in ('created', 'waiting') then
    raise exception 'Step "%" of run "%" is %: signals are refused',
      signal.step_slug, signal.run_id, v_state.status using errcode = 'PF010';
  end if;

  insert into pgflow.pending_signals (run_id, step_slug, task_index, payload)
  values (signal.run_id, signal.step_slug, signal.task_index, signal.payload)
  on conflict do nothing;
  if not found then
    raise exception 'Step "%" of run "%" already has a signal for task %',
      signal.step_slug, signal.run_id, signal.task_index using errcode = 'PF010';
  end if;
  if v_state.status = 'created' then
    return 'pending';
  end if;

  -- a waiting map step: one element fewer to wait for; the last one completes the step
  update pgflow.step_states ss
  set remaining_tasks = ss.remaining_tasks - 1
  where ss.run_id = signal.run_id and ss.step_slug = signal.step_slug
  returning * into v_state;
  if v_state.remaining_tasks > 0 then
    return 'pending';
  end if;
  perform pgflow._complete_step(
    signal.run_id,
    signal.step_slug,
    pgflow._take_signals(signal.run_id, signal.step_slug, 'map', v_state.initial_tasks)
  );
  perform pgflow._advance_run(signal.run_id);
  return 'completed';
end;
$$;
