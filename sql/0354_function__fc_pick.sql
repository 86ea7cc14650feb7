-- _fc_pick(flow_slug, qty): the messages of up to qty ready tasks of a flow under flow control,
-- in claim order. The concurrency groups (step and key value, pgflow._fc_tag) that have queued
-- tasks are served round-robin: a group whose slots or rate window look full is passed over,
-- each other group offers its first visible tasks by priority then message id (at most its free
-- slots and qty), and the offers are taken by their rank within their group, then by group.
-- When every queued task of the flow has the same priority (pgflow._fc_ranked false), only the
-- groups of limited steps are served here (the steps with no limit of their own are
-- pgflow._claim_free's), walked in key order from the one after the last group this session's
-- previous claim of the flow served (its cursor, the setting pgflow.fc_<md5 of the queue
-- table>), and the walk stops once qty groups are taken: a claim costs a probe, a count and a
-- few visibility look-ups per group it takes, whatever the number of groups, and with more
-- groups than qty each claim serves the next qty of them, one task each. The probe that finds a
-- group also returns its first queued task's priority and message id (from the index alone),
-- and the group's offers are read from that entry on (an index range, the one priority of this
-- walk): the entries of the group's tasks started or done since the last VACUUM, which lie
-- before it, are read once per claim rather than twice. Otherwise (priorities differ) every
-- group is visited, those of steps with no limit too (a loose scan of
-- idx_step_tasks_fc_queued), and the offers are taken by priority first, so a ready task of a
-- higher priority is taken before any lower one. Either way a group's backlog never holds
-- another group's first ready task back by more than a round of the groups. Messages are not
-- read (their visibility is not changed). The offers are taken lazily, in that order, each with
-- its task's row lock and its group's advisory lock, tried (never waited for): an offer another
-- claim holds is passed over, so concurrent claims take different tasks and groups (a group
-- with no limit, in priority order, offers tasks no other claim has locked, found in index
-- order: bitmap scans are off, so that a generic plan does not read and sort a whole group to
-- lock its first ones). The exact check stays pgflow._fc_admit's, under the same locks (held
-- until the caller commits). A group's free slots and lock name are computed by the same text
-- in both statements. The statements name the flow's queue table: each is prepared once per
-- session and queue (a generic plan, pg_prepared_statements names pgflow_fc_pick_<md5 of the
-- queue table> and pgflow_fc_rank_<md5>), not planned on every call. A statement under that
-- name is reused only when it is this text, SQL-prepared with its parameter types (else
-- replaced). The caller may have prepared the same text itself under a hostile search_path (a
-- pg_temp domain named text, an operator = of its own schema): the text qualifies every name
-- it holds, parameter and cast types, functions, operators (operator(pg_catalog.=)...) and
-- tables, so it means the same under any search_path and the reused plan is this function's.
-- Internal (claim_tasks). Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._fc_pick(flow_slug text, qty int)
returns bigint[]
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode to force_generic_plan
set enable_bitmapscan to off
as $$
declare
  v_table text := pgmq.format_table_name(_fc_pick.flow_slug, 'q');
  v_hash text := pg_catalog.md5(v_table);
  v_ranked boolean;
  v_slots text;
  v_lock_task text;
  v_name text;
  v_prepare text;
  v_types pg_catalog.regtype[];
  v_cursor text[];
  v_ids bigint[];
  v_step text;
  v_key text;
begin
  v_ranked := pgflow._fc_ranked(_fc_pick.flow_slug);
  -- a group's free slots (at most $2: its limit less its started tasks, counted by
  -- idx_step_tasks_fc_started; its rate window's room) and its lock's name (pgflow._fc_admit's:
  -- its concurrency group, else its rate group; null for a step with no limit), for a group g
  -- (step_slug, fc_key) of step s: the same in both statements below
  v_slots := $s$least(
        $2,
        case when s.opt_concurrency_limit is null then $2
          when s.opt_concurrency_key is null then s.opt_concurrency_limit operator(pg_catalog.-) (
            select pg_catalog.count(*)::pg_catalog.int4 from pgflow.step_tasks u
            where u.flow_slug operator(pg_catalog.=) $1
              and u.step_slug operator(pg_catalog.=) g.step_slug
              and u.status operator(pg_catalog.=) 'started' and u.fc_key is not null
          )
          else s.opt_concurrency_limit operator(pg_catalog.-) (
            select pg_catalog.count(*)::pg_catalog.int4 from pgflow.step_tasks u
            where u.flow_slug operator(pg_catalog.=) $1
              and u.step_slug operator(pg_catalog.=) g.step_slug
              and u.status operator(pg_catalog.=) 'started'
              and u.fc_key operator(pg_catalog.=) g.fc_key
          )
        end,
        -- a rate keyed apart from the concurrency key is checked by _fc_admit alone
        case when s.opt_rate_limit is null
            or (s.opt_concurrency_key is not null and s.opt_rate_key is not null) then $2
          else s.opt_rate_limit operator(pg_catalog.-) (
            select pg_catalog.count(*)::pg_catalog.int4 from pgflow.rate_starts rs
            where rs.flow_slug operator(pg_catalog.=) $1
              and rs.step_slug operator(pg_catalog.=) g.step_slug
              and rs.rate_key operator(pg_catalog.=) case when s.opt_rate_key is null then '' else g.fc_key end
              and rs.started_at operator(pg_catalog.>) (pg_catalog.clock_timestamp()
                operator(pg_catalog.-) pg_catalog.make_interval(secs => s.opt_rate_per))
          )
        end
      ) as free,
      case when s.opt_concurrency_limit is not null then
          'pgflow.c|' operator(pg_catalog.||) $1 operator(pg_catalog.||) '|'
            operator(pg_catalog.||) g.step_slug operator(pg_catalog.||) '|'
            operator(pg_catalog.||) case when s.opt_concurrency_key is null then '' else g.fc_key end
        when s.opt_rate_limit is not null then
          'pgflow.r|' operator(pg_catalog.||) $1 operator(pg_catalog.||) '|'
            operator(pg_catalog.||) g.step_slug operator(pg_catalog.||) '|'
            operator(pg_catalog.||) g.fc_key
      end as lock_name$s$;
  -- an offer r's task row lock, tried (a task another claim holds is passed over)
  v_lock_task := $s$exists (
              select 1 from pgflow.step_tasks t
              where t.message_id operator(pg_catalog.=) r.message_id
                and t.flow_slug operator(pg_catalog.=) $1
                and t.status operator(pg_catalog.=) 'queued'
              for update skip locked
            )$s$;

  if v_ranked then
    v_name := 'pgflow_fc_rank_' || v_hash;
    v_types := array['pg_catalog.text', 'pg_catalog.int4']::pg_catalog.regtype[];
    v_prepare := pg_catalog.format(
      $q$prepare %2$I(pg_catalog.text, pg_catalog.int4) as
        with recursive groups as (
          (
            select t.step_slug, t.fc_key
            from pgflow.step_tasks t
            where t.flow_slug operator(pg_catalog.=) $1 and t.status operator(pg_catalog.=) 'queued'
              and t.fc_key is not null
            order by t.step_slug, t.fc_key
            limit 1
          )
          union all
          select n.step_slug, n.fc_key
          from groups g
          cross join lateral (
            select t.step_slug, t.fc_key
            from pgflow.step_tasks t
            where t.flow_slug operator(pg_catalog.=) $1 and t.status operator(pg_catalog.=) 'queued'
              and t.fc_key is not null
              and (t.step_slug, t.fc_key) operator(pg_catalog.>) (g.step_slug, g.fc_key)
            order by t.step_slug, t.fc_key
            limit 1
          ) n
        ),
        slots as (
          select g.step_slug, g.fc_key, %3$s
          from groups g
          join pgflow.steps s on s.flow_slug operator(pg_catalog.=) $1
            and s.step_slug operator(pg_catalog.=) g.step_slug
        ),
        -- a limited group offers its first visible tasks (at most its free slots; the row locks
        -- are tried when they are taken, below); a group with no limit (a step of the flow with
        -- none of its own) offers its first visible tasks that no other claim holds, locking
        -- them, so concurrent claims do not offer each other the same ones
        offered as (
          select sl.step_slug, sl.fc_key, sl.lock_name, c.message_id, c.priority
          from slots sl
          cross join lateral (
            select t.message_id, t.priority
            from pgflow.step_tasks t
            where t.flow_slug operator(pg_catalog.=) $1
              and t.step_slug operator(pg_catalog.=) sl.step_slug
              and t.fc_key operator(pg_catalog.=) sl.fc_key
              and t.status operator(pg_catalog.=) 'queued'
              -- a subquery, not a join: planning a join would probe the ends of the message
              -- id indexes, slow while they hold many dead entries (a busy queue)
              and (select q.vt from pgmq.%1$I q where q.msg_id operator(pg_catalog.=) t.message_id)
                operator(pg_catalog.<=) pg_catalog.clock_timestamp()
            order by t.priority desc, t.message_id
            limit sl.free
          ) c
          where sl.free operator(pg_catalog.>) 0 and sl.lock_name is not null
          union all
          select sl.step_slug, sl.fc_key, sl.lock_name, c.message_id, c.priority
          from slots sl
          cross join lateral (
            select t.message_id, t.priority
            from pgflow.step_tasks t
            where t.flow_slug operator(pg_catalog.=) $1
              and t.step_slug operator(pg_catalog.=) sl.step_slug
              and t.fc_key operator(pg_catalog.=) sl.fc_key
              and t.status operator(pg_catalog.=) 'queued'
              and (select q.vt from pgmq.%1$I q where q.msg_id operator(pg_catalog.=) t.message_id)
                operator(pg_catalog.<=) pg_catalog.clock_timestamp()
            order by t.priority desc, t.message_id
            limit sl.free
            for update of t skip locked
          ) c
          where sl.free operator(pg_catalog.>) 0 and sl.lock_name is null
        ),
        ranked as (
          select o.message_id, o.priority, o.lock_name,
                 pg_catalog.row_number() over (
                   partition by o.step_slug, o.fc_key order by o.priority desc, o.message_id
                 ) as rank
          from offered o
          order by o.priority desc, rank, o.message_id
          offset 0
        )
        -- taken in claim order, lazily (the limit stops the scan): a task whose row another
        -- claim has locked, or whose group's lock another claim holds, is passed over, so
        -- concurrent claims take different tasks and different limited groups; the locks taken
        -- here are the ones pgflow._fc_admit and pgflow._start_tasks take again (held until
        -- commit), so the exact check is unchanged
        select array(
          select r.message_id from ranked r
          where (r.lock_name is null
                 or pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended(r.lock_name, 0)))
            and %4$s
          order by r.priority desc, r.rank, r.message_id
          limit $2
        )
      $q$,
      v_table, v_name, v_slots, v_lock_task
    );
  else
    v_name := 'pgflow_fc_pick_' || v_hash;
    v_types := array['pg_catalog.text', 'pg_catalog.int4', 'pg_catalog.text', 'pg_catalog.text']
      ::pg_catalog.regtype[];
    v_prepare := pg_catalog.format(
      $q$prepare %2$I(pg_catalog.text, pg_catalog.int4, pg_catalog.text, pg_catalog.text) as
        with recursive
        -- the concurrency groups with queued tasks, in key order from the one after the
        -- session's cursor ($3, $4: the last group its previous claim served), then from the
        -- first one up to the cursor: a loose scan of idx_step_tasks_fc_queued, evaluated only
        -- as far as the groups taken below need (one probe per group visited)
        after_cursor as (
          (
            select t.step_slug, t.fc_key, t.priority as p0, t.message_id as m0, 1 as n
            from pgflow.step_tasks t
            where t.flow_slug operator(pg_catalog.=) $1 and t.status operator(pg_catalog.=) 'queued'
              and t.fc_key is not null
              and (t.step_slug, t.fc_key) operator(pg_catalog.>) ($3, $4)
            order by t.step_slug, t.fc_key
            limit 1
          )
          union all
          select x.step_slug, x.fc_key, x.p0, x.m0, g.n operator(pg_catalog.+) 1
          from after_cursor g
          cross join lateral (
            select t.step_slug, t.fc_key, t.priority as p0, t.message_id as m0
            from pgflow.step_tasks t
            where t.flow_slug operator(pg_catalog.=) $1 and t.status operator(pg_catalog.=) 'queued'
              and t.fc_key is not null
              and (t.step_slug, t.fc_key) operator(pg_catalog.>) (g.step_slug, g.fc_key)
            order by t.step_slug, t.fc_key
            limit 1
          ) x
        ),
        up_to_cursor as (
          (
            select t.step_slug, t.fc_key, t.priority as p0, t.message_id as m0, 1000000000 as n
            from pgflow.step_tasks t
            where t.flow_slug operator(pg_catalog.=) $1 and t.status operator(pg_catalog.=) 'queued'
              and t.fc_key is not null
              and (t.step_slug, t.fc_key) operator(pg_catalog.<=) ($3, $4)
            order by t.step_slug, t.fc_key
            limit 1
          )
          union all
          select x.step_slug, x.fc_key, x.p0, x.m0, g.n operator(pg_catalog.+) 1
          from up_to_cursor g
          cross join lateral (
            select t.step_slug, t.fc_key, t.priority as p0, t.message_id as m0
            from pgflow.step_tasks t
            where t.flow_slug operator(pg_catalog.=) $1 and t.status operator(pg_catalog.=) 'queued'
              and t.fc_key is not null
              and (t.step_slug, t.fc_key) operator(pg_catalog.>) (g.step_slug, g.fc_key)
              and (t.step_slug, t.fc_key) operator(pg_catalog.<=) ($3, $4)
            order by t.step_slug, t.fc_key
            limit 1
          ) x
        ),
        walk as (
          select * from after_cursor
          union all
          select * from up_to_cursor
        ),
        -- each limited group visited (a step with no limit of its own is left to
        -- pgflow._claim_free): its free slots and its lock's name, and its first visible
        -- tasks, at most its free slots and qty, read from the probe's entry on (the walk's one
        -- priority); a group is taken when its lock is free (tried, never waited for), so
        -- concurrent claims take different groups. The walk stops at qty groups taken.
        taken as (
          select g.n, g.step_slug, g.fc_key, o.lock_name, o.ids
          from walk g
          join pgflow.steps s on s.flow_slug operator(pg_catalog.=) $1
            and s.step_slug operator(pg_catalog.=) g.step_slug
            and (s.opt_concurrency_limit is not null or s.opt_rate_limit is not null)
          cross join lateral (
            select l.lock_name, case when l.free operator(pg_catalog.<=) 0 then '{}'::pg_catalog.int8[]
              -- the row locks are tried when the offers are taken, below
              else array(
                select t.message_id
                from pgflow.step_tasks t
                where t.flow_slug operator(pg_catalog.=) $1
                  and t.step_slug operator(pg_catalog.=) g.step_slug
                  and t.fc_key operator(pg_catalog.=) g.fc_key
                  and t.status operator(pg_catalog.=) 'queued'
                  and t.priority operator(pg_catalog.=) g.p0
                  and t.message_id operator(pg_catalog.>=) g.m0
                  -- a subquery, not a join: planning a join would probe the ends of the message
                  -- id indexes, slow while they hold many dead entries (a busy queue)
                  and (select q.vt from pgmq.%1$I q where q.msg_id operator(pg_catalog.=) t.message_id)
                    operator(pg_catalog.<=) pg_catalog.clock_timestamp()
                order by t.priority desc, t.message_id
                limit l.free
              ) end as ids
            from (select %3$s) l
          ) o
          where pg_catalog.cardinality(o.ids) operator(pg_catalog.>) 0
            and pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended(o.lock_name, 0))
          limit $2
        ),
        ranked as (
          select u.id as message_id, u.rank, g.n
          from taken g
          cross join lateral pg_catalog.unnest(g.ids) with ordinality as u(id, rank)
          order by u.rank, g.n
          offset 0
        )
        -- taken by rank in their group, then in walk order (the limit stops the scan): a task
        -- whose row another claim has locked is passed over
        select array(
            select r.message_id from ranked r
            where %4$s
            order by r.rank, r.n
            limit $2
          ),
          (select g.step_slug from taken g order by g.n desc limit 1),
          (select g.fc_key from taken g order by g.n desc limit 1)
      $q$,
      v_table, v_name, v_slots, v_lock_task
    );
  end if;

  -- prepared once per session; reused only if it is this very text with these parameter
  -- types, and the text names everything with its schema (_prepare_once says why)
  perform pgflow._prepare_once(v_name, v_prepare, v_types);

  if v_ranked then
    execute pg_catalog.format('execute %I(%L, %s)', v_name, _fc_pick.flow_slug, _fc_pick.qty)
    into v_ids;
    return v_ids;
  end if;

  -- the session's cursor: the last group its previous claim of this flow served (none: the
  -- walk starts at the first group)
  v_cursor := coalesce(
    nullif(pg_catalog.current_setting('pgflow.fc_' || v_hash, true), '')::text[],
    array['', '']);
  execute pg_catalog.format('execute %I(%L, %s, %L, %L)', v_name, _fc_pick.flow_slug,
    _fc_pick.qty, v_cursor[1], v_cursor[2])
  into v_ids, v_step, v_key;
  if v_step is not null then
    perform pg_catalog.set_config('pgflow.fc_' || v_hash, array[v_step, v_key]::text, false);
  end if;
  return v_ids;
end;
$$;
