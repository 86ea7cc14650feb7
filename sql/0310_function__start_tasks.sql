-- _start_tasks(flow_slug, msg_ids, worker_id): start the queued tasks of a flow behind the given
-- messages (tasks locked elsewhere are skipped, never waited for): attempts_count + 1, a new
-- start_seq (from task_start_seq: it names this start alone and fences its reports), status
-- 'started', worker recorded, message hidden for the step's timeout + 2 s (its read_ct left as
-- it is). Returns one claimed_task per started task, in message order, with the handler input:
-- for a single step {"run": <run input>, "<dep>": <output>, ...} over completed dependencies,
-- for a map task the array element. On a flow under flow control (flows.flow_control) the step
-- limits apply first: pgflow._fc_admit keeps back what they do not allow now (left queued,
-- attempts untouched), and pgflow._fc_started records the starts of rate-limited steps, when
-- the flow has any (docs/flow-control.md). The start is one statement (pgflow._claim_text's,
-- behind a lookup of the messages' queued tasks), prepared once per session and queue (generic
-- plan, pg_prepared_statements name pgflow_start_ids_<md5 of the queue table>; reused only when
-- it is this text, SQL-prepared with its parameter types: pgflow._prepare_once).
-- Internal (start_tasks and claim_tasks). Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._start_tasks(flow_slug text, msg_ids bigint[], worker_id uuid)
returns setof pgflow.claimed_task
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode to force_generic_plan
as $$
#variable_conflict use_column
declare
  v_table text := pgmq.format_table_name(_start_tasks.flow_slug, 'q');
  v_name text := 'pgflow_start_ids_' || pg_catalog.md5(v_table);
  v_prepare text;
  v_claimed pgflow.claimed_task[];
  v_msg_ids bigint[] := _start_tasks.msg_ids;
  v_controlled boolean;
  v_rated boolean;
begin
  -- under flow control: whether any step of the flow has a rate limit (starts to record)
  select f.flow_control,
         f.flow_control and exists (
           select 1 from pgflow.steps s
           where s.flow_slug = f.flow_slug and s.opt_rate_limit is not null
         )
  into v_controlled, v_rated
  from pgflow.flows f
  where f.flow_slug = _start_tasks.flow_slug;
  if v_controlled then
    v_msg_ids := pgflow._fc_admit(_start_tasks.flow_slug, v_msg_ids);
  end if;
  if cardinality(v_msg_ids) = 0 then
    return;
  end if;

  v_prepare := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
    $q$prepare @name@(pg_catalog.text, pg_catalog.int8[], pg_catalog.int4, pg_catalog.uuid) as
      with locked as (
        select t.run_id, t.step_slug, t.task_index
        from pgflow.step_tasks t
        -- status || '': the plan, made once, must not take the partial index of queued tasks
        -- (a scan of all the flow's queued tasks) for the messages' index
        where t.message_id OPERATOR(pg_catalog.=) any($2)
          and t.flow_slug OPERATOR(pg_catalog.=) $1
          and (t.status OPERATOR(pg_catalog.||) '') OPERATOR(pg_catalog.=) 'queued'
        for update of t skip locked
      ),
      @start@
      select coalesce(pg_catalog.array_agg(c.task order by c.message_id), '{}') from claimed c
    $q$,
    '@start@', pgflow._claim_text('select c.message_id from claimed c', false)),
    '@table@', pg_catalog.quote_ident(v_table)), '@name@', pg_catalog.quote_ident(v_name));
  -- prepared once per session; reused only if it is this very text with these parameter
  -- types, and the text names everything with its schema (_prepare_once says why)
  perform pgflow._prepare_once(v_name, v_prepare,
    array['pg_catalog.text', 'pg_catalog.int8[]', 'pg_catalog.int4', 'pg_catalog.uuid']
      ::pg_catalog.regtype[]);
  execute pg_catalog.format('execute %I(%L, %L, null, %L)',
    v_name, _start_tasks.flow_slug, v_msg_ids, _start_tasks.worker_id)
  into v_claimed;

  if cardinality(v_claimed) = 0 then
    return;
  end if;

  if v_rated then
    perform pgflow._fc_started(_start_tasks.flow_slug, v_claimed);
  end if;

  return query select * from unnest(v_claimed);
end;
$$;
