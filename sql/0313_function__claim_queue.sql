-- _claim_queue(flow_slug, qty, vt, worker_id): claim_tasks' path for a flow without flow control,
-- in one statement: read up to qty visible messages of the flow's queue (message order, rows
-- locked elsewhere skipped), start their queued tasks exactly as _start_tasks does (tasks locked
-- elsewhere skipped; the run must be started), and hide each read message once: for its step's
-- timeout + 2 s when its task started, for vt seconds otherwise (as pgmq.read: read_ct + 1,
-- last_read_at). Messages with no queued or started task (gone or finished) are archived.
-- Returns one claimed_task per started task, in message order, with the handler input as
-- _start_tasks builds it.
-- The statement names the flow's queue table: it is prepared once per session and queue (a
-- generic plan under the caller's plan_cache_mode; pg_prepared_statements name
-- pgflow_claim_<md5 of the queue table>; re-prepared when the text under that name is not this
-- statement's), not planned on every call, and it replaces pgmq.read + _start_tasks +
-- set_vt_batch (two dynamic statements planned on every call and a second update of each
-- message). The session's caller can prepare the same text under that name first, under a
-- search_path of its choosing (types, operators, functions of its own in pg_temp or another
-- schema): reusing that statement is safe because the text names nothing through the
-- search_path (every type, operator and function is qualified: pg_catalog.text parameters,
-- OPERATOR(pg_catalog.=)..., tables and sequences by schema), so whoever prepares it, it means
-- this statement and nothing else; its parameter types (resolved when it is prepared, never
-- again) are pg_catalog's. Only a statement prepared by SQL PREPARE with exactly this text is
-- reused (a planner setting of the caller's may shape its plan, not what it does).
-- Internal (claim_tasks). Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._claim_queue(flow_slug text, qty int, vt int, worker_id uuid)
returns setof pgflow.claimed_task
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode to force_generic_plan
as $$
declare
  v_table text := pgmq.format_table_name(_claim_queue.flow_slug, 'q');
  v_name text := 'pgflow_claim_' || pg_catalog.md5(v_table);
  v_prepare text;
  v_claimed pgflow.claimed_task[];
  v_orphans bigint[];
begin
  -- replace() rather than format(): a tenth of the cost on this 4 kB text; the start of the
  -- tasks locked and the hiding of the messages read are pgflow._claim_text's
  v_prepare := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
    $q$prepare @name@(pg_catalog.text, pg_catalog.int4, pg_catalog.int4, pg_catalog.uuid) as
      with msgs as (
        select q.msg_id
        from pgmq.@table@ q
        where q.vt OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp()
        order by q.msg_id
        limit $2
        for update skip locked
      ),
      -- every join below is a lookup by index per row (lateral subqueries and scalar
      -- subqueries): a generic plan must never scan step_tasks, runs or the queue from its
      -- start, as a merge or hash join would
      opened as (
        select m.msg_id, exists (
          select 1 from pgflow.step_tasks t
          where t.message_id OPERATOR(pg_catalog.=) m.msg_id
            and t.flow_slug OPERATOR(pg_catalog.=) $1
            and t.status OPERATOR(pg_catalog.=) any (array['queued', 'started'])
        ) as open
        from msgs m
      ),
      locked as (
        select l.run_id, l.step_slug, l.task_index
        from msgs m
        cross join lateral (
          select t.run_id, t.step_slug, t.task_index
          from pgflow.step_tasks t
          -- status || '': the plan, made once, must not take the partial index of queued
          -- tasks (a scan of all the flow's queued tasks per message) for the message's index
          where t.message_id OPERATOR(pg_catalog.=) m.msg_id
            and t.flow_slug OPERATOR(pg_catalog.=) $1
            and (t.status OPERATOR(pg_catalog.||) '') OPERATOR(pg_catalog.=) 'queued'
          for update of t skip locked
        ) l
      ),
      @start@
      select
        (select coalesce(pg_catalog.array_agg(c.task order by c.message_id), '{}') from claimed c),
        (select pg_catalog.array_agg(o.msg_id order by o.msg_id) from opened o where not o.open)
    $q$,
    '@start@', pgflow._claim_text('select o.msg_id from opened o where o.open', true)),
    '@table@', pg_catalog.quote_ident(v_table)), '@name@', pg_catalog.quote_ident(v_name));
  -- prepared once per session; reused only if it is this very text with these parameter
  -- types, and the text names everything with its schema (_prepare_once says why)
  perform pgflow._prepare_once(v_name, v_prepare,
    array['pg_catalog.text', 'pg_catalog.int4', 'pg_catalog.int4', 'pg_catalog.uuid']
      ::pg_catalog.regtype[]);
  execute pg_catalog.format(
    'execute %I(%L, %L, %L, %L)',
    v_name, _claim_queue.flow_slug, _claim_queue.qty, _claim_queue.vt, _claim_queue.worker_id
  )
  into v_claimed, v_orphans;

  if v_orphans is not null then
    perform pgmq.archive(_claim_queue.flow_slug, v_orphans);
  end if;

  return query select * from unnest(v_claimed);
end;
$$;
