-- set_vt_batch(queue_name, msg_ids, vt_offsets): set each message's visibility timeout to now
-- (clock time) plus its offset in seconds, in one statement (pgmq has no batch form).
-- Returns the updated messages as pgmq.message_record; an empty or null msg_ids, or null
-- vt_offsets, returns nothing (as in pgflow 0.8.1).
-- Raises: 'msg_ids length (%) must equal vt_offsets length (%)'.
set search_path = pg_catalog, pg_temp;

-- an older install returned a table type: drop it so that the definition below can apply
do $$
begin
  if exists (
    select 1 from pg_catalog.pg_proc p
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'pgflow' and p.proname = 'set_vt_batch'
      and p.prorettype <> 'pgmq.message_record'::regtype
  ) then
    drop function pgflow.set_vt_batch(text, bigint[], int[]);
  end if;
end;
$$;

create or replace function pgflow.set_vt_batch(
  queue_name text,
  msg_ids bigint[],
  vt_offsets int[]
)
returns setof pgmq.message_record
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
begin
  if set_vt_batch.msg_ids is null or set_vt_batch.vt_offsets is null
    or cardinality(set_vt_batch.msg_ids) = 0
  then
    return;
  end if;
  if cardinality(set_vt_batch.msg_ids) <> cardinality(set_vt_batch.vt_offsets) then
    raise exception 'msg_ids length (%) must equal vt_offsets length (%)',
      cardinality(set_vt_batch.msg_ids), cardinality(set_vt_batch.vt_offsets);
  end if;

  return query execute format(
    $q$
      update pgmq.%I q
      set vt = clock_timestamp() + make_interval(secs => v.vt_offset)
      from unnest($1, $2) as v(msg_id, vt_offset)
      where q.msg_id = v.msg_id
      returning q.msg_id, q.read_ct, q.enqueued_at, q.last_read_at, q.vt, q.message, q.headers
    $q$,
    pgmq.format_table_name(set_vt_batch.queue_name, 'q')
  ) using set_vt_batch.msg_ids, set_vt_batch.vt_offsets;
end;
$$;
