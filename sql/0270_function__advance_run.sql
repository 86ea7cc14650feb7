-- _advance_run(run_id): move a started run as far as it goes without a worker: resolve the
-- conditions of ready steps (when_unmet fail / skip / skip-cascade), complete taskless steps
-- (empty maps) and repeat until nothing changes, so steps that become ready inside the cascade
-- have their conditions checked too; then start the ready steps and complete the run when done.
-- Internal; the caller holds the run lock.
-- Raises: 'Cascade loop exceeded safety limit of % iterations'.
set search_path to '';

create or replace function pgflow._advance_run(run_id uuid)
returns void
language plpgsql
volatile
set search_path to ''
as $$
#variable_conflict use_column
declare
  c_max_iterations constant int := 1000;
  v_iteration int := 0;
  v_changed boolean;
  v_step record;
  v_input jsonb;
  v_taskless text[];
  v_slug text;
begin
  loop
    v_iteration := v_iteration + 1;
    if v_iteration > c_max_iterations then
      raise exception 'Cascade loop exceeded safety limit of % iterations', c_max_iterations;
    end if;
    if not exists (
      select 1 from pgflow.runs r where r.run_id = _advance_run.run_id and r.status = 'started'
    ) then
      return;
    end if;
    v_changed := false;

    for v_step in
      select ss.step_slug, s.required_input_pattern, s.forbidden_input_pattern, s.when_unmet
      from pgflow.step_states ss
      join pgflow.steps s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
      where ss.run_id = _advance_run.run_id
        and ss.status = 'created'
        and ss.remaining_deps = 0
        and (s.required_input_pattern is not null or s.forbidden_input_pattern is not null)
      order by s.step_index
    loop
      continue when not exists (
        select 1 from pgflow.step_states ss
        where ss.run_id = _advance_run.run_id
          and ss.step_slug = v_step.step_slug
          and ss.status = 'created'
      );
      v_input := pgflow._condition_input(_advance_run.run_id, v_step.step_slug);
      continue when (v_step.required_input_pattern is null or v_input @> v_step.required_input_pattern)
        and (v_step.forbidden_input_pattern is null or not v_input @> v_step.forbidden_input_pattern);

      v_changed := true;
      if v_step.when_unmet = 'fail' then
        perform pgflow._fail_run(_advance_run.run_id, v_step.step_slug, 'Condition not met');
        return;
      end if;
      perform pgflow._skip_steps(
        _advance_run.run_id, v_step.step_slug, 'condition_unmet', v_step.when_unmet = 'skip-cascade'
      );
    end loop;

    -- a snapshot of the taskless steps ready now: children they make ready wait for the next
    -- round, where their conditions are resolved first
    v_taskless := array(
      select ss.step_slug
      from pgflow.step_states ss
      join pgflow.steps s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
      where ss.run_id = _advance_run.run_id
        and ss.status = 'created'
        and ss.remaining_deps = 0
        and ss.initial_tasks = 0
      order by s.step_index
    );
    foreach v_slug in array v_taskless loop
      if pgflow._complete_step(
        _advance_run.run_id,
        v_slug,
        (
          select case when s.step_type = 'map' then '[]'::jsonb end
          from pgflow.runs r
          join pgflow.steps s on s.flow_slug = r.flow_slug and s.step_slug = v_slug
          where r.run_id = _advance_run.run_id
        )
      ) then
        v_changed := true;
      end if;
    end loop;

    exit when not v_changed;
  end loop;

  perform pgflow._start_ready_steps(_advance_run.run_id);
  perform pgflow.maybe_complete_run(_advance_run.run_id);
end;
$$;
