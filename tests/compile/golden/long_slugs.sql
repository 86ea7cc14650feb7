-- compiled by pgflow-yaml 0.3.0 from flows/fffffffffffffffffffffffffffffffffffffffffffffff.yaml (sha256 0000000000000000000000000000000000000000000000000000000000000000); do not edit
--
-- flow fffffffffffffffffffffffffffffffffffffffffffffff: 3 steps
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
    perform pgflow.assert_flow_shape('fffffffffffffffffffffffffffffffffffffffffffffff', '{"steps":[{"slug":"ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss","stepType":"single","dependencies":[],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},"options":{}},{"slug":"a_______________________________________________________________________________________________________________________________","stepType":"single","dependencies":["ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss"],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},"options":{}},{"slug":"Mixed_Case_9","stepType":"map","dependencies":["ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss"],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},"options":{}}],"options":{"maxAttempts":3,"baseDelay":1,"timeout":60}}'::jsonb);
  end if;
end
$pgflow_guard$;

select pgflow.create_flow(flow_slug => 'fffffffffffffffffffffffffffffffffffffffffffffff', max_attempts => 3, base_delay => 1, timeout => 60);
select pgflow.add_step(flow_slug => 'fffffffffffffffffffffffffffffffffffffffffffffff', step_slug => 'ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss', max_attempts => null, base_delay => null, timeout => null, start_delay => null, step_type => 'single');
select pgflow.add_step(flow_slug => 'fffffffffffffffffffffffffffffffffffffffffffffff', step_slug => 'a_______________________________________________________________________________________________________________________________', deps_slugs => array['ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss']::text[], max_attempts => null, base_delay => null, timeout => null, start_delay => null, step_type => 'single');
select pgflow.add_step(flow_slug => 'fffffffffffffffffffffffffffffffffffffffffffffff', step_slug => 'Mixed_Case_9', deps_slugs => array['ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss']::text[], max_attempts => null, base_delay => null, timeout => null, start_delay => null, step_type => 'map');

-- No input_schema: removes one stored earlier
-- (skipped where pgflow.create_flow takes no input_schema, as in pgflow 0.8.1).
do $pgflow_input_schema$
begin
  if exists (
    select 1 from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'create_flow'
      and 'input_schema' = any (p.proargnames)
  ) then
    perform pgflow.create_flow(flow_slug => 'fffffffffffffffffffffffffffffffffffffffffffffff', input_schema => null);
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
    perform pgflow.create_flow(flow_slug => 'fffffffffffffffffffffffffffffffffffffffffffffff', concurrency_limit => null);
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
    perform pgflow.create_flow(flow_slug => 'fffffffffffffffffffffffffffffffffffffffffffffff', priority => null);
    perform pgflow.add_step(flow_slug => 'fffffffffffffffffffffffffffffffffffffffffffffff', step_slug => 'ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss', step_type => 'single', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
    perform pgflow.add_step(flow_slug => 'fffffffffffffffffffffffffffffffffffffffffffffff', step_slug => 'a_______________________________________________________________________________________________________________________________', deps_slugs => array['ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss']::text[], step_type => 'single', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
    perform pgflow.add_step(flow_slug => 'fffffffffffffffffffffffffffffffffffffffffffffff', step_slug => 'Mixed_Case_9', deps_slugs => array['ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss']::text[], step_type => 'map', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
  end if;
end
$pgflow_flow_control$;

-- Schedules (none): exactly these, upserted by name, others removed
-- (skipped where pgflow.set_schedules does not exist, as on pgflow 0.8.1).
do $pgflow_schedules$
begin
  if to_regprocedure('pgflow.set_schedules(text, jsonb)') is not null then
    perform pgflow.set_schedules('fffffffffffffffffffffffffffffffffffffffffffffff', '[]'::jsonb);
  end if;
end
$pgflow_schedules$;
