-- _fc_pick(flow_slug, qty): the messages of up to qty ready tasks of a flow under flow control,
-- in claim order: every concurrency group (step and key value, pgflow._fc_tag) that has queued
-- tasks is visited (a loose scan of idx_step_tasks_fc_queued, one probe per group), a group whose
-- slots or rate window look full is passed over, each other group offers its visible tasks by
-- priority then message id (at most its free slots), and the offers are taken by priority, then
-- by their rank within their group, then by message id. So a ready task of a higher priority is
-- taken before any lower one, and the groups are served round-robin: a group's backlog never
-- holds another group's first ready task back by more than one batch. Messages are not read
-- (their visibility is not changed). The offers are taken lazily, in that order, each with its
-- task's row lock and its group's advisory lock, tried (never waited for): an offer another
-- claim holds is passed over, so concurrent claims take different tasks and groups (a group
-- with no limit offers only tasks no other claim has locked). The exact check stays
-- pgflow._fc_admit's, under the same locks (held until the caller commits). The statement
-- names the flow's queue table: it is prepared once per session and queue (a generic plan,
-- pg_prepared_statements name pgflow_fc_pick_<md5 of the queue table>; re-prepared when the
-- text under that name is not this statement's), not planned on every call. Internal
-- (claim_tasks). Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._fc_pick(flow_slug text, qty int)
returns bigint[]
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode to force_generic_plan
as $$
declare
  v_table text := pgmq.format_table_name(_fc_pick.flow_slug, 'q');
  v_name text := 'pgflow_fc_pick_' || pg_catalog.md5(v_table);
  v_prepare text;
  v_ids bigint[];
begin
  v_prepare := pg_catalog.format(
    $q$prepare %2$I(text, int) as
      with recursive groups as (
        (
          select t.step_slug, t.fc_key
          from pgflow.step_tasks t
          where t.flow_slug = $1 and t.status = 'queued' and t.fc_key is not null
          order by t.step_slug, t.fc_key
          limit 1
        )
        union all
        select n.step_slug, n.fc_key
        from groups g
        cross join lateral (
          select t.step_slug, t.fc_key
          from pgflow.step_tasks t
          where t.flow_slug = $1 and t.status = 'queued' and t.fc_key is not null
            and (t.step_slug, t.fc_key) > (g.step_slug, g.fc_key)
          order by t.step_slug, t.fc_key
          limit 1
        ) n
      ),
      slots as (
        select g.step_slug, g.fc_key, least(
          $2,
          case when s.opt_concurrency_limit is null then $2
            else s.opt_concurrency_limit - (
              select count(*)::int from pgflow.step_tasks u
              where u.flow_slug = $1 and u.step_slug = g.step_slug
                and u.status = 'started' and u.fc_key is not null
                and (s.opt_concurrency_key is null or u.fc_key = g.fc_key)
            )
          end,
          -- a rate keyed apart from the concurrency key is checked by _fc_admit alone
          case when s.opt_rate_limit is null
              or (s.opt_concurrency_key is not null and s.opt_rate_key is not null) then $2
            else s.opt_rate_limit - (
              select count(*)::int from pgflow.rate_starts rs
              where rs.flow_slug = $1 and rs.step_slug = g.step_slug
                and rs.rate_key = case when s.opt_rate_key is null then '' else g.fc_key end
                and rs.started_at > pg_catalog.clock_timestamp()
                  - pg_catalog.make_interval(secs => s.opt_rate_per)
            )
          end
        ) as free,
        -- the group's lock (pgflow._fc_admit's name): its concurrency group, else its rate group
        case when s.opt_concurrency_limit is not null then
            'pgflow.c|' || $1 || '|' || g.step_slug || '|'
            || case when s.opt_concurrency_key is null then '' else g.fc_key end
          when s.opt_rate_limit is not null then
            'pgflow.r|' || $1 || '|' || g.step_slug || '|' || g.fc_key
        end as lock_name
        from groups g
        join pgflow.steps s on s.flow_slug = $1 and s.step_slug = g.step_slug
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
          where t.flow_slug = $1 and t.step_slug = sl.step_slug and t.fc_key = sl.fc_key
            and t.status = 'queued'
            -- a subquery, not a join: planning a join would probe the ends of the message
            -- id indexes, slow while they hold many dead entries (a busy queue)
            and (select q.vt from pgmq.%1$I q where q.msg_id = t.message_id)
              <= pg_catalog.clock_timestamp()
          order by t.priority desc, t.message_id
          limit sl.free
        ) c
        where sl.free > 0 and sl.lock_name is not null
        union all
        select sl.step_slug, sl.fc_key, sl.lock_name, c.message_id, c.priority
        from slots sl
        cross join lateral (
          select t.message_id, t.priority
          from pgflow.step_tasks t
          where t.flow_slug = $1 and t.step_slug = sl.step_slug and t.fc_key = sl.fc_key
            and t.status = 'queued'
            and (select q.vt from pgmq.%1$I q where q.msg_id = t.message_id)
              <= pg_catalog.clock_timestamp()
          order by t.priority desc, t.message_id
          limit sl.free
          for update of t skip locked
        ) c
        where sl.free > 0 and sl.lock_name is null
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
          and exists (
            select 1 from pgflow.step_tasks t
            where t.message_id = r.message_id and t.flow_slug = $1 and t.status = 'queued'
            for update skip locked
          )
        order by r.priority desc, r.rank, r.message_id
        limit $2
      )
    $q$,
    v_table, v_name
  );
  -- a statement under that name with other text (a session's own, or an older version of
  -- this one) is replaced: only this text is ever executed (re-analysed, if the session's
  -- search_path differs, under this function's)
  if not exists (
    select 1 from pg_catalog.pg_prepared_statements p
    where p.name = v_name and p.statement = v_prepare
  ) then
    if exists (select 1 from pg_catalog.pg_prepared_statements p where p.name = v_name) then
      execute pg_catalog.format('deallocate %I', v_name);
    end if;
    execute v_prepare;
  end if;
  execute pg_catalog.format('execute %I(%L, %s)', v_name, _fc_pick.flow_slug, _fc_pick.qty)
  into v_ids;
  return v_ids;
end;
$$;
