-- _take_signals(run_id, step_slug, step_type, size): the output the received signals of a
-- signal step make once it has all of them: a single step's payload (task 0), or a map step's
-- payloads of tasks 0 .. size - 1 in task order. Deletes the step's signals when it returns
-- one; returns null (and deletes nothing) while some are missing.
-- Internal; the caller holds the run lock. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._take_signals(
  run_id uuid,
  step_slug text,
  step_type text,
  size int
)
returns jsonb
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_wanted int := case when _take_signals.step_type = 'map' then _take_signals.size else 1 end;
  v_count int;
  v_output jsonb;
begin
  select count(*)::int,
         case
           when _take_signals.step_type = 'map'
             then coalesce(jsonb_agg(ps.payload order by ps.task_index), '[]'::jsonb)
           else (array_agg(ps.payload))[1]
         end
  into v_count, v_output
  from pgflow.pending_signals ps
  where ps.run_id = _take_signals.run_id
    and ps.step_slug = _take_signals.step_slug
    and ps.task_index < v_wanted;
  if v_count < v_wanted then
    return null;
  end if;
  delete from pgflow.pending_signals ps
  where ps.run_id = _take_signals.run_id and ps.step_slug = _take_signals.step_slug;
  return v_output;
end;
$$;
