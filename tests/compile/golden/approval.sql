-- compiled by pgflow-yaml 0.3.0 from flows_examples/approval.yaml (sha256 14c62fbb68c7fab2c30e86b6920315a7b3254b2e752bcf521b44d3a0de646886); do not edit
--
-- flow approval: 4 steps
--   Draft a post, wait for a person to approve it, then publish it or say why not.
-- options: max_attempts 3, base_delay 1, timeout 60
--   step approve: timeout 86400
-- Option changes are applied (pgflow-yaml core): run against a database holding this
-- flow with the same shape, this sets its retries, delays, timeouts, input_schema,
-- concurrency limit, priorities and step limits.
-- A different shape (steps, order, types, dependencies, conditions) aborts before
-- anything changes; evolve such a flow under a new slug (docs/evolving-flows.md).
-- Needs the pgflow-yaml core (not in pgflow 0.8.1):
--   conditions (if/if_not, when_unmet) on publish, notify_rejection
--   signal on approve
-- Apply in one transaction (psql -v ON_ERROR_STOP=1 --single-transaction -f).

-- Shape guard: fails, listing every difference, when the database holds this flow
-- with another shape (skipped where pgflow.assert_flow_shape does not exist).
do $pgflow_guard$
begin
  if to_regprocedure('pgflow.assert_flow_shape(text, jsonb)') is not null then
    perform pgflow.assert_flow_shape('approval', '{"steps":[{"slug":"draft","stepType":"single","dependencies":[],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},"options":{}},{"slug":"approve","stepType":"single","dependencies":["draft"],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":false},"forbiddenInputPattern":{"defined":false},"options":{"timeout":86400},"signal":true},{"slug":"publish","stepType":"single","dependencies":["approve","draft"],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":true,"value":{"approve":{"approved":true}}},"forbiddenInputPattern":{"defined":false},"options":{}},{"slug":"notify_rejection","stepType":"single","dependencies":["approve"],"whenUnmet":"skip","whenExhausted":"fail","requiredInputPattern":{"defined":true,"value":{"approve":{"approved":false}}},"forbiddenInputPattern":{"defined":false},"options":{}}],"options":{"maxAttempts":3,"baseDelay":1,"timeout":60,"inputSchema":{"type":"object","required":["title"],"properties":{"title":{"type":"string"}}}}}'::jsonb);
  end if;
end
$pgflow_guard$;

select pgflow.create_flow(flow_slug => 'approval', max_attempts => 3, base_delay => 1, timeout => 60);
select pgflow.add_step(flow_slug => 'approval', step_slug => 'draft', max_attempts => null, base_delay => null, timeout => null, start_delay => null, step_type => 'single');
select pgflow.add_step(flow_slug => 'approval', step_slug => 'approve', deps_slugs => array['draft']::text[], max_attempts => null, base_delay => null, timeout => 86400, start_delay => null, step_type => 'single', signal_schema => '{"type":"object","required":["approved"],"properties":{"approved":{"type":"boolean"},"reviewer":{"type":"string"},"note":{"type":"string"}}}'::jsonb);
select pgflow.add_step(flow_slug => 'approval', step_slug => 'publish', deps_slugs => array['draft', 'approve']::text[], max_attempts => null, base_delay => null, timeout => null, start_delay => null, step_type => 'single', required_input_pattern => '{"approve":{"approved":true}}'::jsonb, when_unmet => 'skip');
select pgflow.add_step(flow_slug => 'approval', step_slug => 'notify_rejection', deps_slugs => array['approve']::text[], max_attempts => null, base_delay => null, timeout => null, start_delay => null, step_type => 'single', required_input_pattern => '{"approve":{"approved":false}}'::jsonb, when_unmet => 'skip');

-- Input schema: stored with the flow; clients check each run's input against it
-- (skipped where pgflow.create_flow takes no input_schema, as in pgflow 0.8.1).
do $pgflow_input_schema$
begin
  if exists (
    select 1 from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'create_flow'
      and 'input_schema' = any (p.proargnames)
  ) then
    perform pgflow.create_flow(flow_slug => 'approval', input_schema => '{"type":"object","required":["title"],"properties":{"title":{"type":"string"}}}'::jsonb);
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
    perform pgflow.create_flow(flow_slug => 'approval', concurrency_limit => null);
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
    perform pgflow.create_flow(flow_slug => 'approval', priority => null);
    perform pgflow.add_step(flow_slug => 'approval', step_slug => 'draft', step_type => 'single', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
    perform pgflow.add_step(flow_slug => 'approval', step_slug => 'approve', deps_slugs => array['draft']::text[], step_type => 'single', signal_schema => '{"type":"object","required":["approved"],"properties":{"approved":{"type":"boolean"},"reviewer":{"type":"string"},"note":{"type":"string"}}}'::jsonb, priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
    perform pgflow.add_step(flow_slug => 'approval', step_slug => 'publish', deps_slugs => array['draft', 'approve']::text[], step_type => 'single', required_input_pattern => '{"approve":{"approved":true}}'::jsonb, when_unmet => 'skip', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
    perform pgflow.add_step(flow_slug => 'approval', step_slug => 'notify_rejection', deps_slugs => array['approve']::text[], step_type => 'single', required_input_pattern => '{"approve":{"approved":false}}'::jsonb, when_unmet => 'skip', priority => null, concurrency_limit => null, concurrency_key => null, rate_limit => null, rate_per => null, rate_key => null);
  end if;
end
$pgflow_flow_control$;

-- Schedules (none): exactly these, upserted by name, others removed
-- (skipped where pgflow.set_schedules does not exist, as on pgflow 0.8.1).
do $pgflow_schedules$
begin
  if to_regprocedure('pgflow.set_schedules(text, jsonb)') is not null then
    perform pgflow.set_schedules('approval', '[]'::jsonb);
  end if;
end
$pgflow_schedules$;
