-- add_step(flow_slug, step_slug, deps_slugs, options..., step_type, patterns, modes): append a
-- step to a flow (step_index = next free index) with its dependency edges. Called again for an
-- existing step with the same shape (deps, type, patterns, modes) it sets the options given and
-- keeps the others; with a different shape it raises instead of changing the graph.
-- signal_schema (not null: a signal step, waiting for pgflow.signal, whose payload must match
-- this JSON Schema; 'true' accepts any) is shape as to whether it is set, and its schema is
-- replaced in place. child_flow_slug (not null: a sub-flow step, each task running a child run
-- of that flow) is shape, the flow it names included.
-- Options: omitted (the default -2147483648 stands for "not given") keeps the step's value (null
-- on creation); an explicit null inherits the flow's; a value sets itself. So a bare add_step is
-- "get or create" for the options. The flow-control options (priority, concurrency_limit,
-- concurrency_key, rate_limit, rate_per, rate_key; docs/flow-control.md) follow the same rule,
-- the two keys with '"not given"' as their omitted value (never a valid dotted path); null
-- means no limit (priority null: the flow's). Afterwards pgflow._fc_refresh switches the flow's
-- flow control on or off and re-tags its queued tasks. Returns the step row.
-- Raises: 'Map step "%" can have at most one dependency, but % were provided: %';
-- 'Step "%" of flow "%" already exists with a different shape: %'; steps_flow_slug_fkey
-- (unknown flow); deps_flow_slug_dep_slug_fkey (unknown dependency); deps_check (self
-- dependency); steps_step_slug_check, steps_step_type_check, opt_*_is_*, *_input_pattern_is_object,
-- when_unmet_is_valid, when_exhausted_is_valid, step_is_signal_or_subflow.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.add_step(
  flow_slug text,
  step_slug text,
  deps_slugs text[] default '{}',
  max_attempts int default -2147483648,
  base_delay int default -2147483648,
  timeout int default -2147483648,
  start_delay int default -2147483648,
  step_type text default 'single',
  required_input_pattern jsonb default null,
  forbidden_input_pattern jsonb default null,
  when_unmet text default 'skip',
  when_exhausted text default 'fail',
  signal_schema jsonb default null,
  child_flow_slug text default null,
  priority int default -2147483648,
  concurrency_limit int default -2147483648,
  concurrency_key text default '"not given"',
  rate_limit int default -2147483648,
  rate_per int default -2147483648,
  rate_key text default '"not given"'
)
returns pgflow.steps
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_deps text[] := array(
    select distinct d from unnest(coalesce(add_step.deps_slugs, '{}'::text[])) d order by d
  );
  v_existing pgflow.steps;
  v_existing_deps text[];
  v_differences text[] := '{}';
  v_step pgflow.steps;
begin
  if add_step.step_type = 'map' and cardinality(v_deps) > 1 then
    raise exception 'Map step "%" can have at most one dependency, but % were provided: %',
      add_step.step_slug, cardinality(v_deps), array_to_string(v_deps, ', ');
  end if;

  -- serialise definition changes of one flow, so concurrent add_step calls get distinct indexes
  perform 1 from pgflow.flows f where f.flow_slug = add_step.flow_slug for no key update;

  select * into v_existing from pgflow.steps s
  where s.flow_slug = add_step.flow_slug and s.step_slug = add_step.step_slug;

  if found then
    v_existing_deps := array(
      select d.dep_slug from pgflow.deps d
      where d.flow_slug = add_step.flow_slug and d.step_slug = add_step.step_slug
      order by d.dep_slug
    );
    if v_existing_deps is distinct from v_deps then
      v_differences := v_differences || format('deps [%s] vs [%s]',
        array_to_string(v_existing_deps, ', '), array_to_string(v_deps, ', '));
    end if;
    if v_existing.step_type is distinct from add_step.step_type then
      v_differences := v_differences || format('step_type %s vs %s',
        v_existing.step_type, add_step.step_type);
    end if;
    if v_existing.required_input_pattern is distinct from add_step.required_input_pattern then
      v_differences := v_differences || format('required_input_pattern %s vs %s',
        coalesce(v_existing.required_input_pattern::text, 'null'),
        coalesce(add_step.required_input_pattern::text, 'null'));
    end if;
    if v_existing.forbidden_input_pattern is distinct from add_step.forbidden_input_pattern then
      v_differences := v_differences || format('forbidden_input_pattern %s vs %s',
        coalesce(v_existing.forbidden_input_pattern::text, 'null'),
        coalesce(add_step.forbidden_input_pattern::text, 'null'));
    end if;
    if v_existing.when_unmet is distinct from add_step.when_unmet then
      v_differences := v_differences || format('when_unmet %s vs %s',
        v_existing.when_unmet, add_step.when_unmet);
    end if;
    if v_existing.when_exhausted is distinct from add_step.when_exhausted then
      v_differences := v_differences || format('when_exhausted %s vs %s',
        v_existing.when_exhausted, add_step.when_exhausted);
    end if;
    if (v_existing.signal_schema is null) is distinct from (add_step.signal_schema is null)
      or v_existing.child_flow_slug is distinct from add_step.child_flow_slug
    then
      v_differences := v_differences || format('kind %s vs %s',
        case when v_existing.signal_schema is not null then 'signal'
          when v_existing.child_flow_slug is not null then 'flow ' || v_existing.child_flow_slug
          else 'handler' end,
        case when add_step.signal_schema is not null then 'signal'
          when add_step.child_flow_slug is not null then 'flow ' || add_step.child_flow_slug
          else 'handler' end);
    end if;
    if cardinality(v_differences) > 0 then
      raise exception 'Step "%" of flow "%" already exists with a different shape: %',
        add_step.step_slug, add_step.flow_slug, array_to_string(v_differences, '; ');
    end if;

    update pgflow.steps s
    set opt_max_attempts = case when add_step.max_attempts = -2147483648
          then s.opt_max_attempts else add_step.max_attempts end,
        opt_base_delay = case when add_step.base_delay = -2147483648
          then s.opt_base_delay else add_step.base_delay end,
        opt_timeout = case when add_step.timeout = -2147483648
          then s.opt_timeout else add_step.timeout end,
        opt_start_delay = case when add_step.start_delay = -2147483648
          then s.opt_start_delay else add_step.start_delay end,
        opt_priority = case when add_step.priority = -2147483648
          then s.opt_priority else add_step.priority end,
        opt_concurrency_limit = case when add_step.concurrency_limit = -2147483648
          then s.opt_concurrency_limit else add_step.concurrency_limit end,
        opt_concurrency_key = case when add_step.concurrency_key is not distinct from '"not given"'
          then s.opt_concurrency_key else add_step.concurrency_key end,
        opt_rate_limit = case when add_step.rate_limit = -2147483648
          then s.opt_rate_limit else add_step.rate_limit end,
        opt_rate_per = case when add_step.rate_per = -2147483648
          then s.opt_rate_per else add_step.rate_per end,
        opt_rate_key = case when add_step.rate_key is not distinct from '"not given"'
          then s.opt_rate_key else add_step.rate_key end,
        signal_schema = add_step.signal_schema
    where s.flow_slug = add_step.flow_slug and s.step_slug = add_step.step_slug
    returning * into v_step;
    perform pgflow._fc_refresh(add_step.flow_slug);
    return v_step;
  end if;

  insert into pgflow.steps (
    flow_slug, step_slug, step_type, step_index, deps_count,
    opt_max_attempts, opt_base_delay, opt_timeout, opt_start_delay,
    required_input_pattern, forbidden_input_pattern, when_unmet, when_exhausted, signal_schema,
    child_flow_slug,
    opt_priority, opt_concurrency_limit, opt_concurrency_key, opt_rate_limit, opt_rate_per,
    opt_rate_key
  )
  values (
    add_step.flow_slug,
    add_step.step_slug,
    add_step.step_type,
    coalesce(
      (select max(s.step_index) + 1 from pgflow.steps s where s.flow_slug = add_step.flow_slug), 0
    ),
    cardinality(v_deps),
    nullif(add_step.max_attempts, -2147483648),
    nullif(add_step.base_delay, -2147483648),
    nullif(add_step.timeout, -2147483648),
    nullif(add_step.start_delay, -2147483648),
    add_step.required_input_pattern,
    add_step.forbidden_input_pattern,
    add_step.when_unmet,
    add_step.when_exhausted,
    add_step.signal_schema,
    add_step.child_flow_slug,
    nullif(add_step.priority, -2147483648),
    nullif(add_step.concurrency_limit, -2147483648),
    nullif(add_step.concurrency_key, '"not given"'),
    nullif(add_step.rate_limit, -2147483648),
    nullif(add_step.rate_per, -2147483648),
    nullif(add_step.rate_key, '"not given"')
  )
  returning * into v_step;

  insert into pgflow.deps (flow_slug, dep_slug, step_slug)
  select add_step.flow_slug, d, add_step.step_slug from unnest(v_deps) d;

  if v_step.opt_priority is not null or v_step.opt_concurrency_limit is not null
    or v_step.opt_rate_limit is not null then
    perform pgflow._fc_refresh(add_step.flow_slug);
  end if;
  return v_step;
end;
$$;
