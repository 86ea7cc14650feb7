-- _delete_messages(flow_slug, msg_ids): delete messages of a flow's queue, archived or not, by
-- id (primary-key deletes in pgmq.q_<flow> and pgmq.a_<flow>: the queue tables have no index
-- on the message's run_id, so callers pass the ids their step_tasks rows name). Does nothing
-- when the flow has no queue. Internal (prune_batch, for the runs it deletes; retry_run, for
-- the tasks it re-creates). Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._delete_messages(flow_slug text, msg_ids bigint[])
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if cardinality(_delete_messages.msg_ids) > 0
    and exists (select 1 from pgmq.meta m where m.queue_name = _delete_messages.flow_slug)
  then
    execute pg_catalog.format(
      'delete from pgmq.%I where msg_id operator(pg_catalog.=) any($1)',
      pgmq.format_table_name(_delete_messages.flow_slug, 'a')
    ) using _delete_messages.msg_ids;
    execute pg_catalog.format(
      'delete from pgmq.%I where msg_id operator(pg_catalog.=) any($1)',
      pgmq.format_table_name(_delete_messages.flow_slug, 'q')
    ) using _delete_messages.msg_ids;
  end if;
end;
$$;
