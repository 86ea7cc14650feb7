-- compiled by pgflow-yaml 0.3.0 from flows_examples/enrich_customer.yaml (sha256 3d10f4ece8ef10b655468c054a8d18d47b21877d55a372d047f91e4938ff15ff); do not edit
--
-- flow enrich_customer: 2 steps
--   Look one customer up and give them a tier; run on its own or as a sub-flow.
-- options: max_attempts 3, base_delay 1, timeout 60
-- Option changes are applied (pgflow-yaml core): run against a database holding this
-- flow with the same shape, this sets its retries, delays, timeouts, input_schema,
-- concurrency limit, priorities and step limits.
-- A different shape (steps, order, types, dependencies, conditions) aborts before
-- anything changes; evolve such a flow under a new slug (docs/evolving-flows.md).
-- Uses only what pgflow 0.8.1 has: installs on pgflow 0.8.1 too.
-- Apply in one transaction (psql -v ON_ERROR_STOP=1 --single-transaction -f).

-- Shape guard: fails, listing every difference, when the database holds this flow
-- with another shape (skipped where pgflow.assert_flow_shape does not exist).
do $pgflow_guard$
begin
  if to_regprocedure('pgflow.assert_flow_shape(text, jsonb)') is not null then
    perform pgflow.assert_flow_shape('enrich_customer', '{"steps":[{"slug":"lookup","stepType":"single","dependencies":[],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},"options":{}},{"slug":"tier","stepType":"single","dependencies":["lookup"],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},"options":{}}],"options":{"maxAttempts":3,"baseDelay":1,"timeout":60,"inputSchema":{"type":"object","required":["id","email"],"properties":{"id":{"type":"string"},"email":{"type":"string"}}}}}'::jsonb);
  end if;
end
$pgflow_guard$;

select pgflow.create_flow(flow_slug => 'enrich_customer', max_attempts => 3, base_delay => 1, timeout => 60);
select pgflow.add_step(flow_slug => 'enrich_customer', step_slug => 'lookup', max_attempts => null, base_delay => null, timeout => null, start_delay => null, step_type => 'single');
select pgflow.add_step(flow_slug => 'enrich_customer', step_slug => 'tier', deps_slugs => array['lookup']::text[], max_attempts => null, base_delay => null, timeout => null, start_delay => null, step_type => 'single');

-- Input schema: stored with the flow; clients check each run's input against it
-- (skipped where pgflow.create_flow takes no input_schema, as in pgflow 0.8.1).
do $pgflow_input_schema$
begin
  if exists (
    select 1 from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'create_flow'
      and 'input_schema' = any (p.proargnames)
  ) then
    perform pgflow.create_flow(flow_slug => 'enrich_customer', input_schema => '{"type":"object","required":["id","email"],"properties":{"id":{"type":"string"},"email":{"type":"string"}}}'::jsonb);
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
    perform pgflow.create_flow(flow_slug => 'enrich_customer', concurrency_limit => null);
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
    perform pgflow.create_flow(flow_slug => 'enrich_customer', priority => null);
    perform pgflow.add_step(flow_slug => 'enrich_customer', step_slug => 'lookup', step_type => 'single', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
    perform pgflow.add_step(flow_slug => 'enrich_customer', step_slug => 'tier', deps_slugs => array['lookup']::text[], step_type => 'single', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
  end if;
end
$pgflow_flow_control$;

-- Schedules (none): exactly these, upserted by name, others removed
-- (skipped where pgflow.set_schedules does not exist, as on pgflow 0.8.1).
do $pgflow_schedules$
begin
  if to_regprocedure('pgflow.set_schedules(text, jsonb)') is not null then
    perform pgflow.set_schedules('enrich_customer', '[]'::jsonb);
  end if;
end
$pgflow_schedules$;
