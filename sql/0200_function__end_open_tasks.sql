-- _end_open_tasks(run_id, step_slugs, status): move the queued and started tasks of a run (only
-- of step_slugs when given) to a terminal status ('skipped' or 'cancelled') and archive their
-- messages, so nothing of them can be claimed again. Internal; the caller holds the run lock.
-- Returns the number of tasks ended. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._end_open_tasks(run_id uuid, step_slugs text[], status text)
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_flow_slug text;
  v_msg_ids bigint[];
  v_count int;
begin
  with ended as (
    update pgflow.step_tasks t
    set status = _end_open_tasks.status,
        skipped_at = case when _end_open_tasks.status = 'skipped' then clock_timestamp() end,
        cancelled_at = case when _end_open_tasks.status = 'cancelled' then clock_timestamp() end
    where t.run_id = _end_open_tasks.run_id
      and t.status in ('queued', 'started')
      and (_end_open_tasks.step_slugs is null or t.step_slug = any(_end_open_tasks.step_slugs))
    returning t.flow_slug, t.message_id
  )
  select min(e.flow_slug), array_agg(e.message_id) filter (where e.message_id is not null), count(*)
  into v_flow_slug, v_msg_ids, v_count
  from ended e;

  if cardinality(v_msg_ids) > 0 then
    perform pgmq.archive(v_flow_slug, v_msg_ids);
  end if;
  return v_count;
end;
$$;
