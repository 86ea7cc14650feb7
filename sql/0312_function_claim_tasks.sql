-- claim_tasks(flow_slugs, worker_id, qty, vt): read up to qty visible messages from the flows'
-- queues (going round them from a random one, so that a busy flow cannot starve the others) and
-- start their tasks, in one round trip. A started task's message is hidden for its step's
-- timeout + 2 s; a message read but not started (its task running elsewhere or locked, its run
-- not started) for vt seconds. Messages whose task is gone or finished are archived. A flow
-- without flow control is claimed by one prepared statement (pgflow._claim_queue).
-- A flow under flow control (flows.flow_control: step limits or priorities, docs/flow-control.md)
-- is not read in message order. When its queued tasks share one priority, the tasks of its
-- steps with no limit of their own are claimed by one prepared statement
-- (pgflow._claim_free) and its limited groups are chosen by pgflow._fc_pick (round-robin over
-- the groups, passing over full ones) and admitted under the limits by _start_tasks; the two
-- take turns going first, claim after claim. When priorities differ, _fc_pick chooses all of
-- its tasks by priority.
-- Returns claimed_task rows (start_seq fences the reports; input is the handler's).
-- Raises: 'Flow "%" does not exist'; 'qty must be positive (got %)'.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.claim_tasks(
  flow_slugs text[],
  worker_id uuid,
  qty int default 10,
  vt int default 5
)
returns setof pgflow.claimed_task
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
set enable_seqscan to off
set jit to off
as $$
#variable_conflict use_column
declare
  v_modes int[];
  v_mode int;
  v_at int;
  v_flow_slug text;
  v_count int := coalesce(cardinality(claim_tasks.flow_slugs), 0);
  v_first int := floor(random() * greatest(v_count, 1))::int;
  v_left int := claim_tasks.qty;
  v_msg_ids bigint[];
  v_claimed pgflow.claimed_task[];
  v_claimed_count int;
  v_turn_name text;
  v_turn int;
  v_ranked boolean;
  v_picked boolean;
  v_passes text;
  v_pass int;
begin
  if claim_tasks.qty is null or claim_tasks.qty < 1 then
    raise exception 'qty must be positive (got %)', coalesce(claim_tasks.qty::text, 'null');
  end if;
  -- each flow's mode, in flow_slugs' order (null: no such flow): 0 without flow control, else
  -- 1 + 2 when a step has no limit of its own + 4 when a step has a limit + 8 when a step has
  -- a rate limit
  v_modes := array(
    select (
      select case when not f.flow_control then 0 else (
          -- one read of the flow's steps
          select 1
            + case when bool_or(s.opt_concurrency_limit is null and s.opt_rate_limit is null)
                then 2 else 0 end
            + case when bool_or(s.opt_concurrency_limit is not null or s.opt_rate_limit is not null)
                then 4 else 0 end
            + case when bool_or(s.opt_rate_limit is not null) then 8 else 0 end
          from pgflow.steps s
          where s.flow_slug = f.flow_slug
        ) end
      from pgflow.flows f where f.flow_slug = u.slug
    )
    from unnest(claim_tasks.flow_slugs) with ordinality u(slug, ord)
    order by u.ord
  );
  v_at := array_position(v_modes, null);
  if v_at is not null then
    raise exception 'Flow "%" does not exist', claim_tasks.flow_slugs[v_at];
  end if;

  for i in 0 .. v_count - 1 loop
    exit when v_left <= 0;
    v_at := (v_first + i) % v_count + 1;
    v_flow_slug := claim_tasks.flow_slugs[v_at];
    v_mode := v_modes[v_at];
    if v_mode = 0 then
      -- read, start and hide in one prepared statement (pgflow._claim_queue)
      return query select * from pgflow._claim_queue(
        v_flow_slug, v_left, claim_tasks.vt, claim_tasks.worker_id
      );
      get diagnostics v_claimed_count = row_count;
      v_left := v_left - v_claimed_count;
      continue;
    end if;

    -- under flow control: the steps with no limit of their own are claimed in one statement
    -- (pass f: pgflow._claim_free; none when priorities may differ: it says so), the limited
    -- groups by pgflow._fc_pick, admitted by _start_tasks (pass l: when a limited step has a
    -- queued task, or priorities differ: then _fc_pick takes every step by priority). Which
    -- goes first alternates from one claim of the flow to the next in this session (its count
    -- of them: the setting pgflow.fcturn_<md5 of the queue table>), so neither kind holds the
    -- other back by more than a claim.
    v_ranked := false;
    v_picked := false;
    if (v_mode & 2) = 0 then
      v_passes := 'l';
    else
      v_turn_name := 'pgflow.fcturn_' || md5(pgmq.format_table_name(v_flow_slug, 'q'));
      v_turn := coalesce(nullif(current_setting(v_turn_name, true), '')::int, 0) % 1000000 + 1;
      perform set_config(v_turn_name, v_turn::text, false);
      v_passes := case when (v_mode & 4) = 0 then 'f' when v_turn % 2 = 1 then 'fl' else 'lf' end;
    end if;
    v_pass := 0;
    while v_pass < length(v_passes) and v_left > 0 loop
      v_pass := v_pass + 1;
      if substr(v_passes, v_pass, 1) = 'f' then
        select f.claimed, f.ranked into v_claimed, v_ranked
        from pgflow._claim_free(v_flow_slug, v_left, claim_tasks.vt, claim_tasks.worker_id,
          -- its steps' rotation: one step further each claim, or each second claim when the
          -- two kinds take turns (so that each step also goes first on a turn of its kind's)
          case when (v_mode & 4) = 0 then v_turn else v_turn / 2 end) f;
        v_left := v_left - cardinality(v_claimed);
        return query select * from unnest(v_claimed);
        -- priorities differ: the ordered claim takes every step, this one too
        if v_ranked and not v_picked and strpos(substr(v_passes, v_pass + 1), 'l') = 0 then
          v_passes := v_passes || 'l';
        end if;
        continue;
      end if;

      continue when not v_ranked and not exists (
        select 1 from pgflow.steps s
        where s.flow_slug = v_flow_slug
          and (s.opt_concurrency_limit is not null or s.opt_rate_limit is not null)
          and exists (
            select 1 from pgflow.step_tasks t
            where t.flow_slug = v_flow_slug and t.step_slug = s.step_slug
              and t.status = 'queued' and t.fc_key is not null
          )
      );
      v_picked := true;
      v_msg_ids := pgflow._fc_pick(v_flow_slug, v_left);
      continue when cardinality(v_msg_ids) = 0;

      -- with no rate limit, the start itself checks the concurrency limits (_start_picked);
      -- else _start_tasks admits them (pgflow._fc_admit) and records the starts
      if (v_mode & 8) = 0 then
        v_claimed := array(
          select c from pgflow._start_picked(v_flow_slug, v_msg_ids, claim_tasks.worker_id) c
        );
      else
        v_claimed := array(
          select c from pgflow._start_tasks(v_flow_slug, v_msg_ids, claim_tasks.worker_id) c
        );
      end if;
      v_left := v_left - cardinality(v_claimed);

      if cardinality(v_claimed) < cardinality(v_msg_ids) then
        -- a scalar subquery per message (by idx_step_tasks_message_id): as an anti-join the
        -- planner may read all of step_tasks
        perform pgmq.archive(v_flow_slug, array(
          select id from unnest(v_msg_ids) id
          where (
            select t.task_index from pgflow.step_tasks t
            where t.message_id = id
              and t.flow_slug = v_flow_slug
              and t.status in ('queued', 'started')
            limit 1
          ) is null
        ));
      end if;

      return query select * from unnest(v_claimed);
    end loop;
  end loop;
end;
$$;
