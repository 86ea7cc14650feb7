-- compiled by pgflow-yaml 0.3.0 from flows_examples/order_pipeline.yaml (sha256 1612bd417adb5b15a0f09549b974931f05eb358a1cbd10ee1fddee96a18cb43f); do not edit
--
-- flow order_pipeline: 4 steps
--   Check, charge and ship an order.
-- options: max_attempts 3, base_delay 1, timeout 60
--   step charge: max_attempts 5, timeout 30
-- Option changes are applied (pgflow-yaml core): run against a database holding this
-- flow with the same shape, this sets its retries, delays, timeouts, input_schema,
-- concurrency limit, priorities and step limits.
-- A different shape (steps, order, types, dependencies, conditions) aborts before
-- anything changes; evolve such a flow under a new slug (docs/evolving-flows.md).
-- Needs the pgflow-yaml core (not in pgflow 0.8.1):
--   conditions (if/if_not, when_unmet) on receipt
-- Apply in one transaction (psql -v ON_ERROR_STOP=1 --single-transaction -f).

-- Shape guard: fails, listing every difference, when the database holds this flow
-- with another shape (skipped where pgflow.assert_flow_shape does not exist).
do $pgflow_guard$
begin
  if to_regprocedure('pgflow.assert_flow_shape(text, jsonb)') is not null then
    perform pgflow.assert_flow_shape('order_pipeline', '{"steps":[{"slug":"check","stepType":"single","dependencies":[],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},"options":{}},{"slug":"charge","stepType":"single","dependencies":["check"],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},"options":{"maxAttempts":5,"timeout":30}},{"slug":"ship_item","stepType":"map","dependencies":["check"],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},"options":{}},{"slug":"receipt","stepType":"single","dependencies":["charge","ship_item"],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":true,"value":{"charge":{"paid":true}}},"forbiddenInputPattern":{"defined":false},"options":{}}],"options":{"maxAttempts":3,"baseDelay":1,"timeout":60,"inputSchema":{"type":"object","required":["order_id","items"],"properties":{"order_id":{"type":"string"},"items":{"type":"array","items":{"type":"object"}}}}}}'::jsonb);
  end if;
end
$pgflow_guard$;

select pgflow.create_flow(flow_slug => 'order_pipeline', max_attempts => 3, base_delay => 1, timeout => 60);
select pgflow.add_step(flow_slug => 'order_pipeline', step_slug => 'check', max_attempts => null, base_delay => null, timeout => null, start_delay => null, step_type => 'single');
select pgflow.add_step(flow_slug => 'order_pipeline', step_slug => 'charge', deps_slugs => array['check']::text[], max_attempts => 5, base_delay => null, timeout => 30, start_delay => null, step_type => 'single');
select pgflow.add_step(flow_slug => 'order_pipeline', step_slug => 'ship_item', deps_slugs => array['check']::text[], max_attempts => null, base_delay => null, timeout => null, start_delay => null, step_type => 'map');
select pgflow.add_step(flow_slug => 'order_pipeline', step_slug => 'receipt', deps_slugs => array['charge', 'ship_item']::text[], max_attempts => null, base_delay => null, timeout => null, start_delay => null, step_type => 'single', required_input_pattern => '{"charge":{"paid":true}}'::jsonb, when_unmet => 'skip');

-- Input schema: stored with the flow; clients check each run's input against it
-- (skipped where pgflow.create_flow takes no input_schema, as in pgflow 0.8.1).
do $pgflow_input_schema$
begin
  if exists (
    select 1 from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'create_flow'
      and 'input_schema' = any (p.proargnames)
  ) then
    perform pgflow.create_flow(flow_slug => 'order_pipeline', input_schema => '{"type":"object","required":["order_id","items"],"properties":{"order_id":{"type":"string"},"items":{"type":"array","items":{"type":"object"}}}}'::jsonb);
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
    perform pgflow.create_flow(flow_slug => 'order_pipeline', concurrency_limit => null);
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
    perform pgflow.create_flow(flow_slug => 'order_pipeline', priority => null);
    perform pgflow.add_step(flow_slug => 'order_pipeline', step_slug => 'check', step_type => 'single', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
    perform pgflow.add_step(flow_slug => 'order_pipeline', step_slug => 'charge', deps_slugs => array['check']::text[], step_type => 'single', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
    perform pgflow.add_step(flow_slug => 'order_pipeline', step_slug => 'ship_item', deps_slugs => array['check']::text[], step_type => 'map', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
    perform pgflow.add_step(flow_slug => 'order_pipeline', step_slug => 'receipt', deps_slugs => array['charge', 'ship_item']::text[], step_type => 'single', required_input_pattern => '{"charge":{"paid":true}}'::jsonb, when_unmet => 'skip', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
  end if;
end
$pgflow_flow_control$;

-- Schedules (none): exactly these, upserted by name, others removed
-- (skipped where pgflow.set_schedules does not exist, as on pgflow 0.8.1).
do $pgflow_schedules$
begin
  if to_regprocedure('pgflow.set_schedules(text, jsonb)') is not null then
    perform pgflow.set_schedules('order_pipeline', '[]'::jsonb);
  end if;
end
$pgflow_schedules$;
