-- get_run_with_states(run_id): a snapshot of a run, {"run": <run row>, "steps": [<step state
-- rows in step order>]}; null when the run does not exist. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.get_run_with_states(run_id uuid)
returns jsonb
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select jsonb_build_object(
    'run', to_jsonb(r),
    'steps', coalesce(
      (
        select jsonb_agg(to_jsonb(ss) order by s.step_index)
        from pgflow.step_states ss
        join pgflow.steps s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
        where ss.run_id = r.run_id
      ),
      '[]'::jsonb
    )
  )
  from pgflow.runs r
  where r.run_id = get_run_with_states.run_id;
$$;
