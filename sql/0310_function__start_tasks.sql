-- _start_tasks(flow_slug, msg_ids, worker_id): start the queued tasks of a flow behind the given
-- messages (tasks locked elsewhere are skipped, never waited for): attempts_count + 1, a new
-- start_seq (from task_start_seq: it names this start alone and fences its reports), status
-- 'started', worker recorded, message hidden for the step's timeout + 2 s. Returns one
-- claimed_task per started task, in message order, with the handler input: for a single step
-- {"run": <run input>, "<dep>": <output>, ...} over completed dependencies, for a map task the
-- array element. On a flow under flow control (flows.flow_control) the step limits apply first:
-- pgflow._fc_admit keeps back what they do not allow now (left queued, attempts untouched), and
-- pgflow._fc_started records the starts of rate-limited steps, when the flow has any
-- (docs/flow-control.md).
-- Internal (start_tasks and claim_tasks). Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._start_tasks(flow_slug text, msg_ids bigint[], worker_id uuid)
returns setof pgflow.claimed_task
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
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

  with locked as (
    select t.run_id, t.step_slug, t.task_index
    from pgflow.step_tasks t
    where t.flow_slug = _start_tasks.flow_slug
      and t.message_id = any(v_msg_ids)
      and t.status = 'queued'
    for update of t skip locked
  ),
  started as (
    update pgflow.step_tasks t
    set status = 'started',
        attempts_count = t.attempts_count + 1,
        start_seq = nextval('pgflow.task_start_seq'),
        started_at = clock_timestamp(),
        last_worker_id = _start_tasks.worker_id
    from locked l
    where t.run_id = l.run_id and t.step_slug = l.step_slug and t.task_index = l.task_index
      and exists (
        select 1 from pgflow.runs r where r.run_id = t.run_id and r.status = 'started'
      )
    returning t.flow_slug, t.run_id, t.step_slug, t.task_index, t.message_id, t.attempts_count,
      t.start_seq
  )
  select coalesce(array_agg(
    row(
      st.flow_slug,
      st.run_id,
      st.step_slug,
      st.task_index,
      st.message_id,
      st.attempts_count,
      coalesce(s.opt_timeout, f.opt_timeout),
      case
        when s.step_type = 'map' and s.deps_count = 0 then r.input -> st.task_index
        when s.step_type = 'map' then (
          select ss.output -> st.task_index
          from pgflow.deps d
          join pgflow.step_states ss on ss.run_id = st.run_id and ss.step_slug = d.dep_slug
          where d.flow_slug = st.flow_slug and d.step_slug = st.step_slug
        )
        else jsonb_build_object('run', r.input) || coalesce(
          (
            select jsonb_object_agg(d.dep_slug, ss.output)
            from pgflow.deps d
            join pgflow.step_states ss
              on ss.run_id = st.run_id and ss.step_slug = d.dep_slug and ss.status = 'completed'
            where d.flow_slug = st.flow_slug and d.step_slug = st.step_slug
          ),
          '{}'::jsonb
        )
      end,
      st.start_seq
    )::pgflow.claimed_task
    order by st.message_id
  ), '{}')
  into v_claimed
  from started st
  join pgflow.runs r on r.run_id = st.run_id
  join pgflow.steps s on s.flow_slug = st.flow_slug and s.step_slug = st.step_slug
  join pgflow.flows f on f.flow_slug = st.flow_slug;

  if cardinality(v_claimed) = 0 then
    return;
  end if;

  perform pgflow.set_vt_batch(
    _start_tasks.flow_slug,
    array(select c.msg_id from unnest(v_claimed) c),
    array(select c.timeout + 2 from unnest(v_claimed) c)
  );

  if v_rated then
    perform pgflow._fc_started(_start_tasks.flow_slug, v_claimed);
  end if;

  return query select * from unnest(v_claimed);
end;
$$;
