-- _fc_admit(flow_slug, msg_ids): of the messages of queued tasks a worker is about to start (in
-- the order given), the ones the flow's step limits allow now, in the same order. The groups'
-- transaction advisory locks (one per concurrency group and one per rate group) are tried,
-- never waited for (a claim over several flows could otherwise deadlock with another): a
-- group another claim holds is left to it, its tasks here neither started nor hidden. A lock
-- taken is held until the caller commits, so a count taken here is exact: the started tasks
-- of the group (step_tasks status 'started') stay below opt_concurrency_limit and its starts
-- in the last opt_rate_per seconds (pgflow.rate_starts) below opt_rate_limit. A task held
-- back stays 'queued' with its attempts untouched; its message is hidden for 1 s
-- (concurrency) or until the rate window has room (at least 1 s), so
-- the pgflow 0.8.1 protocol (pgmq.read + start_tasks) does not spin on it. Messages of tasks
-- that are not queued are passed through (pgflow._start_tasks ignores them). When no candidate
-- belongs to a rate-limited step, one statement decides for all of them (a group's candidates
-- are admitted, in order, while they fit under its limit); otherwise a loop checks them one
-- by one. Internal (_start_tasks, for start_tasks and claim_tasks). Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._fc_admit(flow_slug text, msg_ids bigint[])
returns bigint[]
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode to force_generic_plan
as $$
declare
  c_hold_seconds constant int := 1;
  v_task record;
  v_used jsonb := '{}';
  v_group text;
  v_rate_group text;
  v_count int;
  v_ccount int;
  v_admitted bigint[] := '{}';
  v_held bigint[] := '{}';
  v_holds int[] := '{}';
  v_hold int;
  v_oldest timestamptz;
  v_busy bigint[];
  v_limited boolean;
  v_rated boolean;
begin
  -- one statement: whether any candidate belongs to a limited step, or to a rate-limited one,
  -- and the locks of every limited group among the candidates, tried, never waited for (a
  -- claim serving several flows takes them in an order another claim may not share, so
  -- waiting could deadlock): a group locked elsewhere is being filled by that claim, and its
  -- tasks here are left alone (not started, not hidden); the counts below come from later
  -- statements, so they see every start committed before the locks were taken
  select coalesce(bool_or(s.opt_concurrency_limit is not null or s.opt_rate_limit is not null),
           false),
         coalesce(bool_or(s.opt_rate_limit is not null), false),
         array(
           select l.h
           from (
             select distinct pg_catalog.hashtextextended(x.name, 0) as h
             from pgflow.step_tasks t
             join pgflow.steps s on s.flow_slug = t.flow_slug and s.step_slug = t.step_slug
             cross join lateral (
               values
                 (case when s.opt_concurrency_limit is not null then
                    'pgflow.c|' || t.flow_slug || '|' || t.step_slug || '|'
                    || case when s.opt_concurrency_key is null then '' else t.fc_key end end),
                 (case when s.opt_rate_limit is not null then
                    'pgflow.r|' || t.flow_slug || '|' || t.step_slug || '|' || t.rate_key end)
             ) as x(name)
             where t.flow_slug = _fc_admit.flow_slug and t.message_id = any(_fc_admit.msg_ids)
               and t.status = 'queued' and t.fc_key is not null and x.name is not null
             order by 1
           ) l
           where not pg_catalog.pg_try_advisory_xact_lock(l.h)
         )
  into v_limited, v_rated, v_busy
  from pgflow.step_tasks t
  join pgflow.steps s on s.flow_slug = t.flow_slug and s.step_slug = t.step_slug
  where t.flow_slug = _fc_admit.flow_slug and t.message_id = any(_fc_admit.msg_ids)
    and t.status = 'queued' and t.fc_key is not null;
  -- no candidate of a limited step (a step of the flow with no limit of its own): nothing to
  -- check, every message passes as the loop below would pass it
  if not v_limited then
    return _fc_admit.msg_ids;
  end if;

  -- concurrency limits alone (no candidate of a rate-limited step): one statement decides, as
  -- the loop below would: in the order given, a group's candidates are admitted while its
  -- started tasks (counted now, under its lock) and those admitted before them stay below its
  -- limit, the rest held back; a busy group's candidates are left alone
  if not v_rated then
    select coalesce(array_agg(d.id order by d.ord) filter (where d.verdict = 'admit'), '{}'),
           coalesce(array_agg(d.id order by d.ord) filter (where d.verdict = 'hold'), '{}')
    into v_admitted, v_held
    from (
      select c.id, c.ord,
             case when c.lock_name is null then 'admit'
               when pg_catalog.hashtextextended(c.lock_name, 0) = any(v_busy) then 'skip'
               when pg_catalog.row_number() over (partition by c.lock_name order by c.ord)
                 + case when c.opt_concurrency_key is null then (
                     select count(*) from pgflow.step_tasks u
                     where u.flow_slug = _fc_admit.flow_slug and u.step_slug = c.step_slug
                       and u.status = 'started' and u.fc_key is not null)
                   else (
                     select count(*) from pgflow.step_tasks u
                     where u.flow_slug = _fc_admit.flow_slug and u.step_slug = c.step_slug
                       and u.status = 'started' and u.fc_key = c.fc_key)
                   end <= c.opt_concurrency_limit then 'admit'
               else 'hold'
             end as verdict
      from (
        select u.id, u.ord, t.step_slug, t.fc_key, s.opt_concurrency_limit, s.opt_concurrency_key,
               case when t.fc_key is not null and s.opt_concurrency_limit is not null then
                 'pgflow.c|' || t.flow_slug || '|' || t.step_slug || '|'
                 || case when s.opt_concurrency_key is null then '' else t.fc_key end
               end as lock_name
        from unnest(_fc_admit.msg_ids) with ordinality as u(id, ord)
        left join pgflow.step_tasks t
          on t.message_id = u.id and t.flow_slug = _fc_admit.flow_slug and t.status = 'queued'
        left join pgflow.steps s on s.flow_slug = t.flow_slug and s.step_slug = t.step_slug
      ) c
    ) d;
    if cardinality(v_held) > 0 then
      perform pgflow.set_vt_batch(_fc_admit.flow_slug, v_held,
        array_fill(c_hold_seconds, array[cardinality(v_held)]));
    end if;
    return v_admitted;
  end if;

  for v_task in
    select u.id, t.step_slug, t.fc_key, t.rate_key, s.opt_concurrency_limit,
           s.opt_concurrency_key, s.opt_rate_limit, s.opt_rate_per,
           (s.opt_concurrency_limit is not null and pg_catalog.hashtextextended(
              'pgflow.c|' || t.flow_slug || '|' || t.step_slug || '|'
              || case when s.opt_concurrency_key is null then '' else t.fc_key end, 0)
              = any(v_busy))
           or (s.opt_rate_limit is not null and pg_catalog.hashtextextended(
              'pgflow.r|' || t.flow_slug || '|' || t.step_slug || '|' || t.rate_key, 0)
              = any(v_busy)) as busy
    from unnest(_fc_admit.msg_ids) with ordinality as u(id, ord)
    left join pgflow.step_tasks t
      on t.message_id = u.id and t.flow_slug = _fc_admit.flow_slug and t.status = 'queued'
    left join pgflow.steps s on s.flow_slug = t.flow_slug and s.step_slug = t.step_slug
    order by u.ord
  loop
    if v_task.step_slug is null or v_task.fc_key is null then
      v_admitted := v_admitted || v_task.id;
      continue;
    end if;
    continue when v_task.busy;
    v_hold := null;

    if v_task.opt_concurrency_limit is not null then
      v_group := 'c|' || v_task.step_slug || '|'
        || case when v_task.opt_concurrency_key is null then '' else v_task.fc_key end;
      v_ccount := (v_used ->> v_group)::int;
      if v_ccount is null then
        select count(*)::int into v_ccount
        from pgflow.step_tasks u
        where u.flow_slug = _fc_admit.flow_slug and u.step_slug = v_task.step_slug
          and u.status = 'started' and u.fc_key is not null
          and (v_task.opt_concurrency_key is null or u.fc_key = v_task.fc_key);
      end if;
      if v_ccount >= v_task.opt_concurrency_limit then
        v_hold := c_hold_seconds;
      end if;
    end if;

    if v_hold is null and v_task.opt_rate_limit is not null then
      v_rate_group := 'r|' || v_task.step_slug || '|' || v_task.rate_key;
      if v_used ? v_rate_group then
        v_count := (v_used ->> v_rate_group)::int;
      else
        select count(*)::int into v_count
        from pgflow.rate_starts rs
        where rs.flow_slug = _fc_admit.flow_slug and rs.step_slug = v_task.step_slug
          and rs.rate_key = v_task.rate_key
          and rs.started_at > pg_catalog.clock_timestamp()
            - pg_catalog.make_interval(secs => v_task.opt_rate_per);
      end if;
      if v_count >= v_task.opt_rate_limit then
        select min(rs.started_at) into v_oldest
        from pgflow.rate_starts rs
        where rs.flow_slug = _fc_admit.flow_slug and rs.step_slug = v_task.step_slug
          and rs.rate_key = v_task.rate_key
          and rs.started_at > pg_catalog.clock_timestamp()
            - pg_catalog.make_interval(secs => v_task.opt_rate_per);
        v_hold := greatest(c_hold_seconds, ceil(extract(epoch from
          coalesce(v_oldest, pg_catalog.clock_timestamp())
          + pg_catalog.make_interval(secs => v_task.opt_rate_per)
          - pg_catalog.clock_timestamp()))::int);
      else
        v_used := v_used || jsonb_build_object(v_rate_group, v_count + 1);
      end if;
    end if;

    if v_hold is null then
      if v_task.opt_concurrency_limit is not null then
        v_used := v_used || jsonb_build_object(v_group, v_ccount + 1);
      end if;
      v_admitted := v_admitted || v_task.id;
    else
      v_held := v_held || v_task.id;
      v_holds := v_holds || v_hold;
    end if;
  end loop;

  if cardinality(v_held) > 0 then
    perform pgflow.set_vt_batch(_fc_admit.flow_slug, v_held, v_holds);
  end if;
  return v_admitted;
end;
$$;
