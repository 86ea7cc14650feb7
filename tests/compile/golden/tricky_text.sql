-- compiled by pgflow-yaml 0.3.0 from tests/compile/flows/tricky_text.yaml (sha256 36e943b26f6af65fe07bfd6e91909b99d76ac0d2bd1a9acdd337bad4a04336ee); do not edit
--
-- flow tricky_text: 2 steps
--   It's a "quoted" flow with C:\back\slashes,
--   a new line and ünïcödé ✓ 🚀
-- options: max_attempts 2, base_delay 1, timeout 60
-- Option changes are applied (pgflow-yaml core): run against a database holding this
-- flow with the same shape, this sets its retries, delays, timeouts, input_schema,
-- concurrency limit, priorities and step limits.
-- A different shape (steps, order, types, dependencies, conditions) aborts before
-- anything changes; evolve such a flow under a new slug (docs/evolving-flows.md).
-- Needs the pgflow-yaml core (not in pgflow 0.8.1):
--   conditions (if/if_not, when_unmet) on gate
--   when_exhausted on gate
-- Apply in one transaction (psql -v ON_ERROR_STOP=1 --single-transaction -f).

-- Shape guard: fails, listing every difference, when the database holds this flow
-- with another shape (skipped where pgflow.assert_flow_shape does not exist).
do $pgflow_guard_1$
begin
  if to_regprocedure('pgflow.assert_flow_shape(text, jsonb)') is not null then
    perform pgflow.assert_flow_shape('tricky_text', E'{"steps":[{"slug":"start","stepType":"single","dependencies":[],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},"options":{}},{"slug":"gate","stepType":"single","dependencies":["start"],"whenUnmet":"skip-cascade","whenExhausted":"skip","requiredInputPattern":{"defined":true,"value":{"start":{"it''s":"O''Reilly \\\\ backslash","日本語":["✓","é","tab\\there"],"$$":"$pgflow_guard$ not a delimiter"}}},"forbiddenInputPattern":{"defined":true,"value":{"start":{"note":"''; drop table pgflow.flows; --"}}},"options":{}}],"options":{"maxAttempts":2,"baseDelay":1,"timeout":60}}'::jsonb);
  end if;
end
$pgflow_guard_1$;

select pgflow.create_flow(flow_slug => 'tricky_text', max_attempts => 2, base_delay => 1, timeout => 60);
select pgflow.add_step(flow_slug => 'tricky_text', step_slug => 'start', max_attempts => null, base_delay => null, timeout => null, start_delay => null, step_type => 'single');
select pgflow.add_step(flow_slug => 'tricky_text', step_slug => 'gate', deps_slugs => array['start']::text[], max_attempts => null, base_delay => null, timeout => null, start_delay => null, step_type => 'single', required_input_pattern => E'{"start":{"it''s":"O''Reilly \\\\ backslash","日本語":["✓","é","tab\\there"],"$$":"$pgflow_guard$ not a delimiter"}}'::jsonb, forbidden_input_pattern => '{"start":{"note":"''; drop table pgflow.flows; --"}}'::jsonb, when_unmet => 'skip-cascade', when_exhausted => 'skip');

-- No input_schema: removes one stored earlier
-- (skipped where pgflow.create_flow takes no input_schema, as in pgflow 0.8.1).
do $pgflow_input_schema$
begin
  if exists (
    select 1 from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'create_flow'
      and 'input_schema' = any (p.proargnames)
  ) then
    perform pgflow.create_flow(flow_slug => 'tricky_text', input_schema => null);
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
    perform pgflow.create_flow(flow_slug => 'tricky_text', concurrency_limit => null);
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
    perform pgflow.create_flow(flow_slug => 'tricky_text', priority => null);
    perform pgflow.add_step(flow_slug => 'tricky_text', step_slug => 'start', step_type => 'single', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
    perform pgflow.add_step(flow_slug => 'tricky_text', step_slug => 'gate', deps_slugs => array['start']::text[], step_type => 'single', required_input_pattern => E'{"start":{"it''s":"O''Reilly \\\\ backslash","日本語":["✓","é","tab\\there"],"$$":"$pgflow_guard$ not a delimiter"}}'::jsonb, forbidden_input_pattern => '{"start":{"note":"''; drop table pgflow.flows; --"}}'::jsonb, when_unmet => 'skip-cascade', when_exhausted => 'skip', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
  end if;
end
$pgflow_flow_control$;

-- Schedules (none): exactly these, upserted by name, others removed
-- (skipped where pgflow.set_schedules does not exist, as on pgflow 0.8.1).
do $pgflow_schedules$
begin
  if to_regprocedure('pgflow.set_schedules(text, jsonb)') is not null then
    perform pgflow.set_schedules('tricky_text', '[]'::jsonb);
  end if;
end
$pgflow_schedules$;
