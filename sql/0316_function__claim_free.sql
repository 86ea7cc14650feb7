-- _claim_free(flow_slug, qty, vt, worker_id, turn): claim_tasks' path for the steps of a flow
-- under flow control that have no limit of their own (no concurrency limit, no rate limit),
-- in one statement: nothing to admit, so the tasks are picked, started and their messages
-- hidden as pgflow._claim_queue does, with no pgflow._fc_admit and no second statement. The
-- statement's guard: a step with a limit is never read (the steps are chosen in the statement
-- itself), and when the flow's queued tasks may differ in priority (pgflow._fc_ranked, in the
-- same statement) it takes nothing and returns ranked true: the caller then takes every step
-- by priority (pgflow._fc_pick). Otherwise each such step offers its first visible queued task
-- that no other claim holds (locked at once, so concurrent claims take different ones) and
-- the next ones in message order (their row locks tried when taken); the offers are taken step
-- by step, from the turn's step (turn: the caller's rotation, one step further from one
-- claim of the flow to the next in this session, or every second claim), each step's in
-- message order, up to qty. So a step's ready task waits a round of such steps at most (as
-- many claims as such steps, or twice as many), and a claim's tasks
-- are mostly of one step (completing a batch of one step costs less than a mixed one:
-- bench/README.md). Returns the started tasks (claimed_task, in message order, handler input as
-- _start_tasks builds it: pgflow._claim_text) and ranked. Messages are read only through the
-- tasks' index (idx_step_tasks_fc_queued): a backlog of a limited step's messages is never
-- crossed. The statement is prepared once per session and queue (generic plan,
-- pg_prepared_statements name pgflow_fc_free_<md5 of the queue table>), reused only when it is
-- this text, SQL-prepared with its parameter types (pgflow._prepare_once; the text qualifies
-- every name it holds). Internal (claim_tasks). Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._claim_free(
  flow_slug text,
  qty int,
  vt int,
  worker_id uuid,
  turn int,
  out claimed pgflow.claimed_task[],
  out ranked boolean
)
returns record
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode to force_generic_plan
set enable_bitmapscan to off
as $$
declare
  v_table text := pgmq.format_table_name(_claim_free.flow_slug, 'q');
  v_name text := 'pgflow_fc_free_' || pg_catalog.md5(v_table);
  v_prepare text;
begin
  v_prepare := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
    $q$prepare @name@(pg_catalog.text, pg_catalog.int4, pg_catalog.int4, pg_catalog.uuid,
        pg_catalog.int4) as
      with guard as (
        select pgflow._fc_ranked($1) as ranked
      ),
      -- the flow's steps with no limit of their own, numbered in declaration order (none when
      -- priorities may differ)
      free_steps as (
        select s.step_slug,
          pg_catalog.row_number() over (order by s.step_index) as n,
          pg_catalog.count(*) over () as c
        from pgflow.steps s
        where s.flow_slug operator(pg_catalog.=) $1
          and s.opt_concurrency_limit is null and s.opt_rate_limit is null
          and not (select g.ranked from guard g)
      ),
      -- each step's first visible queued task no other claim holds, locked (its tasks' fc_key
      -- is '': a step with no limit has no key)
      firsts as (
        select fs.n, fs.c, fs.step_slug, f.run_id, f.task_index, f.message_id, f.priority
        from free_steps fs
        cross join lateral (
          select t.run_id, t.task_index, t.message_id, t.priority
          from pgflow.step_tasks t
          where t.flow_slug operator(pg_catalog.=) $1
            and t.step_slug operator(pg_catalog.=) fs.step_slug
            and t.fc_key operator(pg_catalog.=) ''
            and t.status operator(pg_catalog.=) 'queued'
            -- a subquery, not a join: planning a join would probe the ends of the message id
            -- indexes, slow while they hold many dead entries (a busy queue)
            and (select q.vt from pgmq.@table@ q where q.msg_id operator(pg_catalog.=) t.message_id)
              operator(pg_catalog.<=) pg_catalog.clock_timestamp()
          order by t.priority desc, t.message_id
          limit 1
          for update of t skip locked
        ) f
      ),
      offered as (
        select f.n, f.c, f.run_id, f.step_slug, f.task_index, f.message_id, true as held
        from firsts f
        union all
        select f.n, f.c, x.run_id, f.step_slug, x.task_index, x.message_id, false
        from firsts f
        cross join lateral (
          select t.run_id, t.task_index, t.message_id
          from pgflow.step_tasks t
          where t.flow_slug operator(pg_catalog.=) $1
            and t.step_slug operator(pg_catalog.=) f.step_slug
            and t.fc_key operator(pg_catalog.=) ''
            and t.status operator(pg_catalog.=) 'queued'
            and t.priority operator(pg_catalog.=) f.priority
            and t.message_id operator(pg_catalog.>) f.message_id
            and (select q.vt from pgmq.@table@ q where q.msg_id operator(pg_catalog.=) t.message_id)
              operator(pg_catalog.<=) pg_catalog.clock_timestamp()
          order by t.priority desc, t.message_id
          limit ($2 operator(pg_catalog.-) 1)
        ) x
      ),
      ranked as (
        select o.run_id, o.step_slug, o.task_index, o.held,
          pg_catalog.row_number() over (partition by o.step_slug order by o.message_id) as rank,
          (o.n operator(pg_catalog.+) $5) operator(pg_catalog.%) o.c as k
        from offered o
        order by k, rank
        offset 0
      ),
      -- taken step by step from the turn's one, each step's in message order (the limit stops
      -- the scan): an offer whose row another claim has locked is passed over
      locked as (
        select r.run_id, r.step_slug, r.task_index
        from ranked r
        where r.held or exists (
          select 1 from pgflow.step_tasks t
          where t.run_id operator(pg_catalog.=) r.run_id
            and t.step_slug operator(pg_catalog.=) r.step_slug
            and t.task_index operator(pg_catalog.=) r.task_index
            and t.status operator(pg_catalog.=) 'queued'
          for update skip locked
        )
        order by r.k, r.rank
        limit $2
      ),
      @start@
      select
        (select coalesce(pg_catalog.array_agg(c.task order by c.message_id), '{}') from claimed c),
        (select g.ranked from guard g)
    $q$,
    '@start@', pgflow._claim_text('select c.message_id from claimed c', true)),
    '@table@', pg_catalog.quote_ident(v_table)), '@name@', pg_catalog.quote_ident(v_name));
  -- prepared once per session; reused only if it is this very text with these parameter
  -- types, and the text names everything with its schema (_prepare_once says why)
  perform pgflow._prepare_once(v_name, v_prepare,
    array['pg_catalog.text', 'pg_catalog.int4', 'pg_catalog.int4', 'pg_catalog.uuid',
      'pg_catalog.int4']::pg_catalog.regtype[]);
  execute pg_catalog.format(
    'execute %I(%L, %L, %L, %L, %L)', v_name, _claim_free.flow_slug, _claim_free.qty,
    _claim_free.vt, _claim_free.worker_id, _claim_free.turn
  )
  into _claim_free.claimed, _claim_free.ranked;
end;
$$;
