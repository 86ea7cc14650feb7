-- create_flow(flow_slug, max_attempts, base_delay, timeout, input_schema, priority,
-- concurrency_limit, concurrency_key): create a flow and its pgmq queue (named after the slug), or, when the flow exists, set the options given and keep
-- the others. An omitted integer option (the default -2147483648 stands for "not given") keeps
-- the flow's value, or on creation takes the default 3 / 5 / 60 (as in pgflow 0.8.1); an explicit
-- null sets the default; a value sets itself. So a bare create_flow(slug) is "get or create".
-- input_schema is the JSON Schema (object or boolean) clients check each run's input against;
-- omitted (the default, the JSON string "not given": no schema is a string) it keeps the flow's,
-- or on creation none; null (SQL or JSON) removes it.
-- priority (flow control, docs/flow-control.md) follows the integer convention: omitted keeps,
-- null resets to the default 0. Afterwards pgflow._fc_refresh switches the flow's flow control
-- on or off and re-tags its queued tasks.
-- concurrency_limit: at most that many runs of the flow in progress at once (per value of the
-- run input's dotted path concurrency_key, when given); omitted keeps the flow's (on creation:
-- none), null removes the limit (and its key). concurrency_key omitted (the default, the text
-- '"not given"') keeps the flow's key, null removes it. A changed limit or key is applied to the
-- runs in progress at once: queued runs that now fit start (_apply_flow_concurrency).
-- Returns the flow row.
-- Raises: 'Flow slug "%" is too long for a pgmq queue (% characters, at most 47)';
-- slug_is_valid, opt_*_is_* checks (opt_input_schema_is_a_schema: not an object or boolean);
-- flows_slug_is_unique_ignoring_case; opt_concurrency_is_valid (a limit below 1, a key with an
-- empty segment); 'concurrency_key needs a concurrency_limit (flow "%" has none)'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.create_flow(
  flow_slug text,
  max_attempts int default -2147483648,
  base_delay int default -2147483648,
  timeout int default -2147483648,
  input_schema jsonb default '"not given"'::jsonb,
  priority int default -2147483648,
  concurrency_limit int default -2147483648,
  concurrency_key text default '"not given"'
)
returns pgflow.flows
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_flow pgflow.flows;
  v_keep_schema boolean := create_flow.input_schema is not distinct from '"not given"'::jsonb;
  v_schema jsonb := case when v_keep_schema then null
                         else nullif(create_flow.input_schema, 'null'::jsonb) end;
  v_old_concurrency jsonb;
  v_concurrency jsonb;
begin
  if pgflow.is_valid_slug(create_flow.flow_slug) and length(create_flow.flow_slug) > 47 then
    raise exception 'Flow slug "%" is too long for a pgmq queue (% characters, at most 47)',
      create_flow.flow_slug, length(create_flow.flow_slug);
  end if;

  select f.opt_concurrency into v_old_concurrency
  from pgflow.flows f where f.flow_slug = create_flow.flow_slug
  for no key update;
  v_concurrency := pgflow._concurrency_option(
    create_flow.flow_slug, v_old_concurrency, create_flow.concurrency_limit,
    create_flow.concurrency_key
  );

  insert into pgflow.flows as f (
    flow_slug, opt_max_attempts, opt_base_delay, opt_timeout, opt_input_schema, opt_priority,
    opt_concurrency
  )
  values (
    create_flow.flow_slug,
    coalesce(nullif(create_flow.max_attempts, -2147483648), 3),
    coalesce(nullif(create_flow.base_delay, -2147483648), 5),
    coalesce(nullif(create_flow.timeout, -2147483648), 60),
    v_schema,
    nullif(create_flow.priority, -2147483648),
    v_concurrency
  )
  on conflict on constraint flows_pkey do update
    set opt_max_attempts = case when create_flow.max_attempts = -2147483648
          then f.opt_max_attempts else excluded.opt_max_attempts end,
        opt_base_delay = case when create_flow.base_delay = -2147483648
          then f.opt_base_delay else excluded.opt_base_delay end,
        opt_timeout = case when create_flow.timeout = -2147483648
          then f.opt_timeout else excluded.opt_timeout end,
        opt_input_schema = case when v_keep_schema
          then f.opt_input_schema else excluded.opt_input_schema end,
        opt_priority = case when create_flow.priority = -2147483648
          then f.opt_priority else excluded.opt_priority end,
        opt_concurrency = excluded.opt_concurrency
  returning * into v_flow;

  if not exists (select 1 from pgmq.meta m where m.queue_name = create_flow.flow_slug) then
    perform pgmq.create(create_flow.flow_slug);
    perform pgflow._grant_flow_queue(create_flow.flow_slug);
  end if;
  perform pgflow._apply_flow_concurrency(v_flow, v_old_concurrency);

  if create_flow.priority is distinct from -2147483648 or v_flow.flow_control then
    perform pgflow._fc_refresh(create_flow.flow_slug);
    select * into v_flow from pgflow.flows f where f.flow_slug = create_flow.flow_slug;
  end if;

  return v_flow;
end;
$$;
