-- expire_waiting_steps(): end every signal step of a started run that has been waiting longer
-- than its timeout (the step's, else the flow's) as its when_exhausted says: fail (the step and
-- the run fail), skip (skip_reason 'signal_timeout'; dependents run without its output) or
-- skip-cascade; the run then advances. Called by every worker's periodic maintenance (no
-- pg_cron); runs locked by another transaction are left for the next call.
-- Returns the number of steps ended. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.expire_waiting_steps()
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_expired record;
  v_count int := 0;
begin
  for v_expired in
    select ss.run_id, ss.step_slug, s.when_exhausted,
           coalesce(s.opt_timeout, f.opt_timeout) as timeout
    from pgflow.step_states ss
    join pgflow.steps s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
    join pgflow.flows f on f.flow_slug = ss.flow_slug
    where ss.status = 'waiting'
      and ss.started_at
        + make_interval(secs => coalesce(s.opt_timeout, f.opt_timeout)) < clock_timestamp()
    order by ss.run_id, ss.step_slug
  loop
    -- a run another transaction holds (a signal arriving now) is left for the next call
    continue when not exists (
      select 1 from pgflow.runs r
      where r.run_id = v_expired.run_id and r.status = 'started'
      for no key update skip locked
    );
    continue when not exists (
      select 1 from pgflow.step_states ss
      where ss.run_id = v_expired.run_id and ss.step_slug = v_expired.step_slug
        and ss.status = 'waiting'
    );
    v_count := v_count + 1;
    if v_expired.when_exhausted = 'fail' then
      perform pgflow._fail_run(
        v_expired.run_id, v_expired.step_slug,
        format('No signal received within %s seconds', v_expired.timeout)
      );
    else
      perform pgflow._skip_steps(
        v_expired.run_id, v_expired.step_slug, 'signal_timeout',
        v_expired.when_exhausted = 'skip-cascade'
      );
      perform pgflow._advance_run(v_expired.run_id);
    end if;
  end loop;
  return v_count;
end;
$$;
