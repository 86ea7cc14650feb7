-- set_vt_batch(queue_name, msg_ids, vt_offsets): set each message's visibility timeout to now
-- (clock time) plus its offset in seconds, in one statement (pgmq has no batch form).
-- Returns the updated messages; an empty or null array returns nothing.
-- Raises: 'msg_ids length (%) must equal vt_offsets length (%)'.
set search_path to '';

create or replace function pgflow.set_vt_batch(
  queue_name text,
  msg_ids bigint[],
  vt_offsets int[]
)
returns table (
  msg_id bigint,
  read_ct int,
  enqueued_at timestamptz,
  vt timestamptz,
  message jsonb,
  headers jsonb
)
language plpgsql
volatile
set search_path to ''
as $$
#variable_conflict use_column
begin
  if set_vt_batch.msg_ids is null or cardinality(set_vt_batch.msg_ids) = 0 then
    return;
  end if;
  if cardinality(set_vt_batch.msg_ids) <> coalesce(cardinality(set_vt_batch.vt_offsets), 0) then
    raise exception 'msg_ids length (%) must equal vt_offsets length (%)',
      cardinality(set_vt_batch.msg_ids), coalesce(cardinality(set_vt_batch.vt_offsets), 0);
  end if;

  return query execute format(
    $q$
      update pgmq.%I q
      set vt = clock_timestamp() + make_interval(secs => v.vt_offset)
      from unnest($1, $2) as v(msg_id, vt_offset)
      where q.msg_id = v.msg_id
      returning q.msg_id, q.read_ct, q.enqueued_at, q.vt, q.message, q.headers
    $q$,
    pgmq.format_table_name(set_vt_batch.queue_name, 'q')
  ) using set_vt_batch.msg_ids, set_vt_batch.vt_offsets;
end;
$$;
