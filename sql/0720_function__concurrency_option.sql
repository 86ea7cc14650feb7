-- _concurrency_option(flow_slug, current, concurrency_limit, concurrency_key): the flow's new
-- opt_concurrency from create_flow's arguments and the stored value (current, null: none).
-- concurrency_limit -2147483648 means "not given" (keep the current limit), null removes the
-- limit and its key; concurrency_key '"not given"' keeps the current key, null removes it.
-- Returns {"limit": N} or {"limit": N, "key": "a.b"}, or null (no limit). The values themselves
-- are checked by the flows table (opt_concurrency_is_valid). Internal.
-- Raises: 'concurrency_key needs a concurrency_limit (flow "%" has none)'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._concurrency_option(
  flow_slug text,
  current jsonb,
  concurrency_limit int,
  concurrency_key text
)
returns jsonb
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_limit int := case when _concurrency_option.concurrency_limit = -2147483648
                      then (_concurrency_option.current ->> 'limit')::int
                      else _concurrency_option.concurrency_limit end;
  v_key text := case when _concurrency_option.concurrency_key = '"not given"'
                     then _concurrency_option.current ->> 'key'
                     else _concurrency_option.concurrency_key end;
begin
  if v_limit is null then
    if _concurrency_option.concurrency_limit is distinct from null
      and _concurrency_option.concurrency_key is not null
      and _concurrency_option.concurrency_key <> '"not given"' then
      raise exception 'concurrency_key needs a concurrency_limit (flow "%" has none)',
        _concurrency_option.flow_slug;
    end if;
    return null;
  end if;
  return jsonb_build_object('limit', v_limit)
    || case when v_key is not null then jsonb_build_object('key', v_key) else '{}'::jsonb end;
end;
$$;
