-- compiled by pgflow-yaml 0.3.0 from flows_examples/onboard_customers.yaml (sha256 d3a4a003eecc584ea7ba3b0a00b1b6ce14f856f9d64bfe0a37b8f447499b4d73); do not edit
--
-- flow onboard_customers: 3 steps
--   Enrich every customer of a batch with a child run of enrich_customer, then sum up.
-- options: max_attempts 3, base_delay 1, timeout 60
--   step enrich: max_attempts 2
-- Option changes are applied (pgflow-yaml core): run against a database holding this
-- flow with the same shape, this sets its retries, delays, timeouts, input_schema,
-- concurrency limit, priorities and step limits.
-- A different shape (steps, order, types, dependencies, conditions) aborts before
-- anything changes; evolve such a flow under a new slug (docs/evolving-flows.md).
-- Needs the pgflow-yaml core (not in pgflow 0.8.1):
--   flow (sub-flow steps) on enrich
-- Apply in one transaction (psql -v ON_ERROR_STOP=1 --single-transaction -f).

-- Shape guard: fails, listing every difference, when the database holds this flow
-- with another shape (skipped where pgflow.assert_flow_shape does not exist).
do $pgflow_guard$
begin
  if to_regprocedure('pgflow.assert_flow_shape(text, jsonb)') is not null then
    perform pgflow.assert_flow_shape('onboard_customers', '{"steps":[{"slug":"customers","stepType":"single","dependencies":[],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},"options":{}},{"slug":"enrich","stepType":"map","dependencies":["customers"],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},"options":{"maxAttempts":2},"flow":"enrich_customer"},{"slug":"summary","stepType":"single","dependencies":["enrich"],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},"options":{}}],"options":{"maxAttempts":3,"baseDelay":1,"timeout":60,"inputSchema":{"type":"object","required":["customers"],"properties":{"customers":{"type":"array","items":{"type":"object"}}}}}}'::jsonb);
  end if;
end
$pgflow_guard$;

select pgflow.create_flow(flow_slug => 'onboard_customers', max_attempts => 3, base_delay => 1, timeout => 60);
select pgflow.add_step(flow_slug => 'onboard_customers', step_slug => 'customers', max_attempts => null, base_delay => null, timeout => null, start_delay => null, step_type => 'single');
select pgflow.add_step(flow_slug => 'onboard_customers', step_slug => 'enrich', deps_slugs => array['customers']::text[], max_attempts => 2, base_delay => null, timeout => null, start_delay => null, step_type => 'map', child_flow_slug => 'enrich_customer');
select pgflow.add_step(flow_slug => 'onboard_customers', step_slug => 'summary', deps_slugs => array['enrich']::text[], max_attempts => null, base_delay => null, timeout => null, start_delay => null, step_type => 'single');

-- Input schema: stored with the flow; clients check each run's input against it
-- (skipped where pgflow.create_flow takes no input_schema, as in pgflow 0.8.1).
do $pgflow_input_schema$
begin
  if exists (
    select 1 from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'create_flow'
      and 'input_schema' = any (p.proargnames)
  ) then
    perform pgflow.create_flow(flow_slug => 'onboard_customers', input_schema => '{"type":"object","required":["customers"],"properties":{"customers":{"type":"array","items":{"type":"object"}}}}'::jsonb);
  end if;
end
$pgflow_input_schema$;

-- No concurrency limit: removes one stored earlier, starting the runs it queued
-- (skipped where pgflow.create_flow takes no concurrency_limit, as in pgflow 0.8.1).
do $pgflow_concurrency$
begin
  if exists (
    select 1 from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'create_flow'
      and 'concurrency_limit' = any (p.proargnames)
  ) then
    perform pgflow.create_flow(flow_slug => 'onboard_customers', concurrency_limit => null);
  end if;
end
$pgflow_concurrency$;

-- No priority or step limit: resets any stored earlier, in place
-- (skipped where pgflow.add_step takes no rate_per, as in pgflow 0.8.1).
do $pgflow_flow_control$
begin
  if exists (
    select 1 from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'add_step'
      and 'rate_per' = any (p.proargnames)
  ) then
    perform pgflow.create_flow(flow_slug => 'onboard_customers', priority => null);
    perform pgflow.add_step(flow_slug => 'onboard_customers', step_slug => 'customers', step_type => 'single', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
    perform pgflow.add_step(flow_slug => 'onboard_customers', step_slug => 'enrich', deps_slugs => array['customers']::text[], step_type => 'map', child_flow_slug => 'enrich_customer', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
    perform pgflow.add_step(flow_slug => 'onboard_customers', step_slug => 'summary', deps_slugs => array['enrich']::text[], step_type => 'single', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
  end if;
end
$pgflow_flow_control$;

-- Schedules (none): exactly these, upserted by name, others removed
-- (skipped where pgflow.set_schedules does not exist, as on pgflow 0.8.1).
do $pgflow_schedules$
begin
  if to_regprocedure('pgflow.set_schedules(text, jsonb)') is not null then
    perform pgflow.set_schedules('onboard_customers', '[]'::jsonb);
  end if;
end
$pgflow_schedules$;
