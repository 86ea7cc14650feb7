-- _apply_flow_concurrency(flow, previous): called (one line) by create_flow after it stored the
-- flow's options, with the concurrency it had before (null: none, or a new flow). When the
-- limit or key changed: the runs in progress ('started' or 'queued') get their slot_key under
-- the new key (null when the limit is gone), then each key's queue is admitted up to the new
-- limit (every queued run when the limit was removed), keys in lock order. Nothing when
-- nothing changed. Internal. Raises what _advance_run raises.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._apply_flow_concurrency(flow pgflow.flows, previous jsonb)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_slug text := (_apply_flow_concurrency.flow).flow_slug;
  v_concurrency jsonb := (_apply_flow_concurrency.flow).opt_concurrency;
  v_key text;
begin
  if v_concurrency is not distinct from _apply_flow_concurrency.previous then
    return;
  end if;

  if (v_concurrency ->> 'key') is distinct from (_apply_flow_concurrency.previous ->> 'key')
    or v_concurrency is null or _apply_flow_concurrency.previous is null then
    update pgflow.runs r
    set slot_key = case
          when v_concurrency is null and r.status = 'queued' then ''  -- to be admitted below
          else pgflow._run_slot_key(v_concurrency, r.input)
        end
    where r.flow_slug = v_slug and r.status in ('started', 'queued');
  end if;

  for v_key in
    select k.slot_key from (
      select distinct r.slot_key from pgflow.runs r
      where r.flow_slug = v_slug and r.status = 'queued' and r.slot_key is not null
    ) k
    order by pg_catalog.hashtext(v_slug || '/' || k.slot_key)
  loop
    if pgflow._lock_run_slot(v_slug, v_key) then
      perform pgflow._admit_queued_runs(v_slug, v_key);
    end if;
  end loop;
end;
$$;
