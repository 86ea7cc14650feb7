-- compiled by pgflow-yaml 0.3.0 from flows/options_everywhere.yaml (sha256 0000000000000000000000000000000000000000000000000000000000000000); do not edit
--
-- flow options_everywhere: 3 steps
-- options: max_attempts 10, base_delay 7, timeout 120
--   step first: max_attempts 1, base_delay 2, timeout 3, start_delay 0
--   step second: start_delay 3600
--   step fan: timeout 900
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
    perform pgflow.assert_flow_shape('options_everywhere', '{"steps":[{"slug":"first","stepType":"single","dependencies":[],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},"options":{"maxAttempts":1,"baseDelay":2,"timeout":3,"startDelay":0}},{"slug":"second","stepType":"single","dependencies":["first"],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},"options":{"startDelay":3600}},{"slug":"fan","stepType":"map","dependencies":[],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},"options":{"timeout":900}}],"options":{"maxAttempts":10,"baseDelay":7,"timeout":120}}'::jsonb);
  end if;
end
$pgflow_guard$;

select pgflow.create_flow(flow_slug => 'options_everywhere', max_attempts => 10, base_delay => 7, timeout => 120);
select pgflow.add_step(flow_slug => 'options_everywhere', step_slug => 'first', max_attempts => 1, base_delay => 2, timeout => 3, start_delay => 0, step_type => 'single');
select pgflow.add_step(flow_slug => 'options_everywhere', step_slug => 'second', deps_slugs => array['first']::text[], max_attempts => null, base_delay => null, timeout => null, start_delay => 3600, step_type => 'single');
select pgflow.add_step(flow_slug => 'options_everywhere', step_slug => 'fan', max_attempts => null, base_delay => null, timeout => 900, start_delay => null, step_type => 'map');

-- No input_schema: removes one stored earlier
-- (skipped where pgflow.create_flow takes no input_schema, as in pgflow 0.8.1).
do $pgflow_input_schema$
begin
  if exists (
    select 1 from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'create_flow'
      and 'input_schema' = any (p.proargnames)
  ) then
    perform pgflow.create_flow(flow_slug => 'options_everywhere', input_schema => null);
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
    perform pgflow.create_flow(flow_slug => 'options_everywhere', concurrency_limit => null);
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
    perform pgflow.create_flow(flow_slug => 'options_everywhere', priority => null);
    perform pgflow.add_step(flow_slug => 'options_everywhere', step_slug => 'first', step_type => 'single', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
    perform pgflow.add_step(flow_slug => 'options_everywhere', step_slug => 'second', deps_slugs => array['first']::text[], step_type => 'single', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
    perform pgflow.add_step(flow_slug => 'options_everywhere', step_slug => 'fan', step_type => 'map', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
  end if;
end
$pgflow_flow_control$;

-- Schedules (none): exactly these, upserted by name, others removed
-- (skipped where pgflow.set_schedules does not exist, as on pgflow 0.8.1).
do $pgflow_schedules$
begin
  if to_regprocedure('pgflow.set_schedules(text, jsonb)') is not null then
    perform pgflow.set_schedules('options_everywhere', '[]'::jsonb);
  end if;
end
$pgflow_schedules$;
