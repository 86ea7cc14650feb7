-- maybe_complete_run(run_id): complete a started run whose steps are all done; its output is
-- {"<leaf step>": <output>} over the completed steps nothing depends on (null when every leaf was
-- skipped). Never touches a failed, cancelled or completed run. Sends run:completed (_emit).
-- A completed child run completes its parent task (_subflow_run_ended).
-- Raises nothing.
-- (plpgsql rather than sql: it runs after every completion, and plpgsql keeps its plans.)
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.maybe_complete_run(run_id uuid)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_run pgflow.runs;
begin
  update pgflow.runs r
  set status = 'completed',
      completed_at = clock_timestamp(),
      output = (
        select jsonb_object_agg(ss.step_slug, ss.output)
        from pgflow.step_states ss
        where ss.run_id = r.run_id
          and ss.status = 'completed'
          and not exists (
            select 1 from pgflow.deps d
            where d.flow_slug = r.flow_slug and d.dep_slug = ss.step_slug
          )
      )
  where r.run_id = maybe_complete_run.run_id
    and r.status = 'started'
    and r.remaining_steps = 0
  returning * into v_run;

  if found and to_regnamespace('realtime') is not null then
    perform pgflow._emit('run:completed', pgflow._run_event(v_run), v_run.run_id);
  end if;
  perform pgflow._subflow_run_ended(v_run.run_id) where v_run.parent_run_id is not null;
  if v_run.run_id is not null then perform pgflow._release_run_slot(v_run); end if;
end;
$$;
