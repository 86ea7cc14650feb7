-- _skip_steps(run_id, step_slug, skip_reason, cascade): skip a step (and with cascade every step
-- downstream of it, reason 'dependency_skipped'), end their open tasks as 'skipped' and archive
-- their messages. Children outside the skipped set count the skipped parents down; a map child
-- whose source was skipped gets 0 tasks. Sends step:skipped per step (_emit), in step order.
-- Internal; the caller holds the run lock.
-- Returns the number of steps skipped. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._skip_steps(
  run_id uuid,
  step_slug text,
  skip_reason text,
  cascade boolean
)
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_flow_slug text;
  v_slugs text[];
begin
  select r.flow_slug into v_flow_slug from pgflow.runs r where r.run_id = _skip_steps.run_id;

  if _skip_steps.cascade then
    with recursive downstream(step_slug) as (
      select _skip_steps.step_slug
      union
      select d.step_slug
      from pgflow.deps d
      join downstream ds on d.dep_slug = ds.step_slug
      where d.flow_slug = v_flow_slug
    )
    select array_agg(ss.step_slug) into v_slugs
    from pgflow.step_states ss
    join downstream ds on ds.step_slug = ss.step_slug
    where ss.run_id = _skip_steps.run_id and ss.status in ('created', 'started', 'waiting');
  else
    select array_agg(ss.step_slug) into v_slugs
    from pgflow.step_states ss
    where ss.run_id = _skip_steps.run_id
      and ss.step_slug = _skip_steps.step_slug
      and ss.status in ('created', 'started', 'waiting');
  end if;

  if v_slugs is null then
    return 0;
  end if;

  update pgflow.step_states ss
  set status = 'skipped',
      skip_reason = case
        when ss.step_slug = _skip_steps.step_slug then _skip_steps.skip_reason
        else 'dependency_skipped'
      end,
      remaining_tasks = null,
      skipped_at = clock_timestamp()
  where ss.run_id = _skip_steps.run_id and ss.step_slug = any(v_slugs);

  if to_regnamespace('realtime') is not null then
    perform pgflow._emit('step:' || ss.step_slug || ':skipped', pgflow._step_event(ss), ss.run_id)
    from pgflow.step_states ss
    join pgflow.steps s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
    where ss.run_id = _skip_steps.run_id and ss.step_slug = any(v_slugs)
    order by s.step_index;
  end if;

  perform pgflow._end_open_tasks(_skip_steps.run_id, v_slugs, 'skipped');

  update pgflow.step_states c
  set remaining_deps = c.remaining_deps - x.skipped_parents,
      initial_tasks = case when x.step_type = 'map' then 0 else c.initial_tasks end
  from (
    select d.step_slug, s.step_type, count(*)::int as skipped_parents
    from pgflow.deps d
    join pgflow.steps s on s.flow_slug = d.flow_slug and s.step_slug = d.step_slug
    where d.flow_slug = v_flow_slug
      and d.dep_slug = any(v_slugs)
      and not d.step_slug = any(v_slugs)
    group by d.step_slug, s.step_type
  ) x
  where c.run_id = _skip_steps.run_id and c.step_slug = x.step_slug and c.status = 'created';

  update pgflow.runs r
  set remaining_steps = r.remaining_steps - cardinality(v_slugs)
  where r.run_id = _skip_steps.run_id;

  return cardinality(v_slugs);
end;
$$;
