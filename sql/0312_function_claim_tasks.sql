-- claim_tasks(flow_slugs, worker_id, qty, vt): read up to qty visible messages from the flows'
-- queues (going round them from a random one, so that a busy flow cannot starve the others) and
-- start their tasks, in one round trip. A started task's message is hidden for its step's
-- timeout + 2 s; a message read but not started (its task running elsewhere or locked, its run
-- not started) for vt seconds. Messages whose task is gone or finished are archived. A flow
-- without flow control is claimed by one prepared statement (pgflow._claim_queue).
-- A flow under flow control (flows.flow_control: step limits or priorities, docs/flow-control.md)
-- is not read in message order: pgflow._fc_pick chooses its tasks (by priority, round-robin over
-- concurrency groups, passing over full ones) and _start_tasks admits them under the limits.
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
  v_controls boolean[];
  v_at int;
  v_flow_slug text;
  v_count int := coalesce(cardinality(claim_tasks.flow_slugs), 0);
  v_first int := floor(random() * greatest(v_count, 1))::int;
  v_left int := claim_tasks.qty;
  v_msg_ids bigint[];
  v_claimed pgflow.claimed_task[];
  v_claimed_count int;
begin
  if claim_tasks.qty is null or claim_tasks.qty < 1 then
    raise exception 'qty must be positive (got %)', coalesce(claim_tasks.qty::text, 'null');
  end if;
  -- each flow's flow_control, in flow_slugs' order (null: no such flow)
  v_controls := array(
    select (select f.flow_control from pgflow.flows f where f.flow_slug = u.slug)
    from unnest(claim_tasks.flow_slugs) with ordinality u(slug, ord)
    order by u.ord
  );
  v_at := array_position(v_controls, null);
  if v_at is not null then
    raise exception 'Flow "%" does not exist', claim_tasks.flow_slugs[v_at];
  end if;

  for i in 0 .. v_count - 1 loop
    exit when v_left <= 0;
    v_at := (v_first + i) % v_count + 1;
    v_flow_slug := claim_tasks.flow_slugs[v_at];
    if not v_controls[v_at] then
      -- read, start and hide in one prepared statement (pgflow._claim_queue)
      return query select * from pgflow._claim_queue(
        v_flow_slug, v_left, claim_tasks.vt, claim_tasks.worker_id
      );
      get diagnostics v_claimed_count = row_count;
      v_left := v_left - v_claimed_count;
      continue;
    end if;
    v_msg_ids := pgflow._fc_pick(v_flow_slug, v_left);
    continue when cardinality(v_msg_ids) = 0;

    v_claimed := array(
      select c from pgflow._start_tasks(v_flow_slug, v_msg_ids, claim_tasks.worker_id) c
    );
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
end;
$$;
