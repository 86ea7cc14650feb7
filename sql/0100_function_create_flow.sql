-- create_flow(flow_slug, max_attempts, base_delay, timeout): create a flow and its pgmq queue
-- (named after the slug), or, when the flow exists, set its options to the given ones
-- (null = default 3 / 5 / 60 as in pgflow 0.8.1). Returns the flow row.
-- Raises: 'Flow slug "%" is too long for a pgmq queue (% characters, at most 47)';
-- slug_is_valid, opt_*_is_* checks; flows_slug_is_unique_ignoring_case.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.create_flow(
  flow_slug text,
  max_attempts int default null,
  base_delay int default null,
  timeout int default null
)
returns pgflow.flows
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_flow pgflow.flows;
begin
  if pgflow.is_valid_slug(create_flow.flow_slug) and length(create_flow.flow_slug) > 47 then
    raise exception 'Flow slug "%" is too long for a pgmq queue (% characters, at most 47)',
      create_flow.flow_slug, length(create_flow.flow_slug);
  end if;

  insert into pgflow.flows as f (flow_slug, opt_max_attempts, opt_base_delay, opt_timeout)
  values (
    create_flow.flow_slug,
    coalesce(create_flow.max_attempts, 3),
    coalesce(create_flow.base_delay, 5),
    coalesce(create_flow.timeout, 60)
  )
  on conflict on constraint flows_pkey do update
    set opt_max_attempts = excluded.opt_max_attempts,
        opt_base_delay = excluded.opt_base_delay,
        opt_timeout = excluded.opt_timeout
  returning * into v_flow;

  if not exists (select 1 from pgmq.meta m where m.queue_name = create_flow.flow_slug) then
    perform pgmq.create(create_flow.flow_slug);
    perform pgflow._grant_flow_queue(create_flow.flow_slug);
  end if;

  return v_flow;
end;
$$;
