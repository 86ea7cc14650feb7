-- _condition_input(run_id, step_slug): the JSON a step's if / if_not patterns are matched
-- against: the run input for a root step, else {"<dep>": <output>} of its completed
-- dependencies (skipped ones are absent). Internal. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._condition_input(run_id uuid, step_slug text)
returns jsonb
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select case
    when s.deps_count = 0 then r.input
    else coalesce(
      (
        select jsonb_object_agg(d.dep_slug, ss.output)
        from pgflow.deps d
        join pgflow.step_states ss
          on ss.run_id = r.run_id and ss.step_slug = d.dep_slug and ss.status = 'completed'
        where d.flow_slug = r.flow_slug and d.step_slug = s.step_slug
      ),
      '{}'::jsonb
    )
  end
  from pgflow.runs r
  join pgflow.steps s on s.flow_slug = r.flow_slug and s.step_slug = _condition_input.step_slug
  where r.run_id = _condition_input.run_id;
$$;
