-- _start_picked(flow_slug, msg_ids, worker_id): claim_tasks' start of the tasks pgflow._fc_pick
-- chose, for a flow under flow control with no rate limit, in one statement: the concurrency
-- check of pgflow._fc_admit is made by the start itself. It is exact because _fc_pick took
-- every chosen task's row lock and its group's advisory lock in an earlier statement (held
-- until the caller commits): this statement's snapshot holds every start of the group that
-- committed before, and no other claim can start one of its tasks since. In the order given,
-- a group's tasks are admitted while its started tasks and those admitted before them stay
-- below its limit; the others are held back as _fc_admit holds them (left queued, attempts
-- untouched, message hidden for 1 s); a task of a step with no limit is admitted. The
-- admitted tasks are started as pgflow._start_tasks starts them (pgflow._claim_text: message
-- hidden for the step's timeout + 2 s, read_ct left as it is). Returns one claimed_task per
-- started task, in message order. The statement is prepared once per session and queue
-- (generic plan, pg_prepared_statements name pgflow_start_picked_<md5 of the queue table>),
-- reused only when it is this text, SQL-prepared with its parameter types
-- (pgflow._prepare_once; the text qualifies every name it holds). Internal (claim_tasks).
-- Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._start_picked(flow_slug text, msg_ids bigint[], worker_id uuid)
returns setof pgflow.claimed_task
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode to force_generic_plan
as $$
declare
  v_table text := pgmq.format_table_name(_start_picked.flow_slug, 'q');
  v_name text := 'pgflow_start_picked_' || pg_catalog.md5(v_table);
  v_prepare text;
  v_claimed pgflow.claimed_task[];
begin
  v_prepare := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
    $q$prepare @name@(pg_catalog.text, pg_catalog.int8[], pg_catalog.int4, pg_catalog.uuid) as
      with candidates as (
        select u.id, u.ord, t.run_id, t.step_slug, t.task_index, t.fc_key,
          s.opt_concurrency_limit as lim, s.opt_concurrency_key as ckey
        from pg_catalog.unnest($2) with ordinality as u(id, ord)
        cross join lateral (
          select t.run_id, t.step_slug, t.task_index, t.fc_key
          from pgflow.step_tasks t
          -- status || '': the plan, made once, must not take the partial index of queued tasks
          -- (a scan of all the flow's queued tasks) for the message's index
          where t.message_id OPERATOR(pg_catalog.=) u.id
            and t.flow_slug OPERATOR(pg_catalog.=) $1
            and (t.status OPERATOR(pg_catalog.||) '') OPERATOR(pg_catalog.=) 'queued'
          limit 1
        ) t
        cross join lateral (
          select s.opt_concurrency_limit, s.opt_concurrency_key
          from pgflow.steps s
          where s.flow_slug OPERATOR(pg_catalog.=) $1
            and s.step_slug OPERATOR(pg_catalog.=) t.step_slug
          limit 1
        ) s
      ),
      verdicts as (
        select c.id, c.run_id, c.step_slug, c.task_index,
          c.lim is null or c.fc_key is null
            or pg_catalog.row_number() over (
                partition by c.step_slug, case when c.ckey is null then '' else c.fc_key end
                order by c.ord
              ) OPERATOR(pg_catalog.+) case when c.ckey is null then (
                select pg_catalog.count(*) from pgflow.step_tasks u
                where u.flow_slug OPERATOR(pg_catalog.=) $1
                  and u.step_slug OPERATOR(pg_catalog.=) c.step_slug
                  and u.status OPERATOR(pg_catalog.=) 'started' and u.fc_key is not null
              ) else (
                select pg_catalog.count(*) from pgflow.step_tasks u
                where u.flow_slug OPERATOR(pg_catalog.=) $1
                  and u.step_slug OPERATOR(pg_catalog.=) c.step_slug
                  and u.status OPERATOR(pg_catalog.=) 'started'
                  and u.fc_key OPERATOR(pg_catalog.=) c.fc_key
              ) end OPERATOR(pg_catalog.<=) c.lim as admit
        from candidates c
      ),
      locked as (
        select l.run_id, l.step_slug, l.task_index
        from verdicts v
        cross join lateral (
          select t.run_id, t.step_slug, t.task_index
          from pgflow.step_tasks t
          where t.run_id OPERATOR(pg_catalog.=) v.run_id
            and t.step_slug OPERATOR(pg_catalog.=) v.step_slug
            and t.task_index OPERATOR(pg_catalog.=) v.task_index
            and t.status OPERATOR(pg_catalog.=) 'queued'
          for update of t skip locked
        ) l
        where v.admit
      ),
      @start@
      select coalesce(pg_catalog.array_agg(c.task order by c.message_id), '{}') from claimed c
    $q$,
    '@start@', pgflow._claim_text(
      'select c.message_id from claimed c union all select v.id from verdicts v where not v.admit',
      false)),
    '@table@', pg_catalog.quote_ident(v_table)), '@name@', pg_catalog.quote_ident(v_name));
  -- prepared once per session; reused only if it is this very text with these parameter
  -- types, and the text names everything with its schema (_prepare_once says why)
  perform pgflow._prepare_once(v_name, v_prepare,
    array['pg_catalog.text', 'pg_catalog.int8[]', 'pg_catalog.int4', 'pg_catalog.uuid']
      ::pg_catalog.regtype[]);
  -- $3: the hiding of a held-back task's message (1 s, as _fc_admit's)
  execute pg_catalog.format('execute %I(%L, %L, 1, %L)',
    v_name, _start_picked.flow_slug, _start_picked.msg_ids, _start_picked.worker_id)
  into v_claimed;

  return query select * from unnest(v_claimed);
end;
$$;
