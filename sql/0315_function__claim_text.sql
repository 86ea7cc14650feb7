-- _claim_text(hide, read): the part of a prepared statement that starts the tasks it has
-- locked, shared by pgflow._claim_queue, pgflow._claim_free and pgflow._start_tasks: the text
-- of the CTEs "started" (the tasks of the statement's CTE "locked" (run_id, step_slug,
-- task_index; row-locked by it) whose run is started: attempts_count + 1, a new start_seq,
-- status 'started', started_at, worker $4), "claimed" (one claimed_task per started task, with
-- its message id and step timeout; the handler input: for a single step {"run": <run input>,
-- "<dep>": <output>, ...} over completed dependencies, for a map task the array element) and
-- "hidden" (the update of the messages whose ids the query "hide" selects: hidden for their
-- task's step timeout + 2 s when it started, $3 seconds otherwise; with read, also read_ct + 1
-- and last_read_at, as pgmq.read). The text names the queue table @table@ (the caller puts in
-- its quoted name) and, like every prepared statement of the core, qualifies every name it
-- holds (pgflow._prepare_once says why). Internal. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._claim_text(hide text, read boolean)
returns text
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $f$
begin
  -- plpgsql, not sql: a sql function with a SET clause is planned again on every call
  return pg_catalog.replace(pg_catalog.replace($t$started as (
        update pgflow.step_tasks t
        set status = 'started',
            attempts_count = t.attempts_count OPERATOR(pg_catalog.+) 1,
            start_seq = pg_catalog.nextval('pgflow.task_start_seq'),
            started_at = pg_catalog.clock_timestamp(),
            last_worker_id = $4
        from locked l
        where t.run_id OPERATOR(pg_catalog.=) l.run_id
          and t.step_slug OPERATOR(pg_catalog.=) l.step_slug
          and t.task_index OPERATOR(pg_catalog.=) l.task_index
          and (select r.status from pgflow.runs r where r.run_id OPERATOR(pg_catalog.=) t.run_id)
            OPERATOR(pg_catalog.=) 'started'
        returning t.flow_slug, t.run_id, t.step_slug, t.task_index, t.message_id,
          t.attempts_count, t.start_seq
      ),
      claimed as (
        select st.message_id,
          row(
            st.flow_slug,
            st.run_id,
            st.step_slug,
            st.task_index,
            st.message_id,
            st.attempts_count,
            s.timeout,
            case
              when s.step_type OPERATOR(pg_catalog.=) 'map'
                  and s.deps_count OPERATOR(pg_catalog.=) 0
                then r.input OPERATOR(pg_catalog.->) st.task_index
              when s.step_type OPERATOR(pg_catalog.=) 'map' then (
                select ss.output OPERATOR(pg_catalog.->) st.task_index
                from pgflow.deps d
                join pgflow.step_states ss on ss.run_id OPERATOR(pg_catalog.=) st.run_id
                  and ss.step_slug OPERATOR(pg_catalog.=) d.dep_slug
                where d.flow_slug OPERATOR(pg_catalog.=) st.flow_slug
                  and d.step_slug OPERATOR(pg_catalog.=) st.step_slug
              )
              else pg_catalog.jsonb_build_object('run', r.input) OPERATOR(pg_catalog.||) coalesce(
                (
                  select pg_catalog.jsonb_object_agg(d.dep_slug, ss.output)
                  from pgflow.deps d
                  join pgflow.step_states ss
                    on ss.run_id OPERATOR(pg_catalog.=) st.run_id
                      and ss.step_slug OPERATOR(pg_catalog.=) d.dep_slug
                      and ss.status OPERATOR(pg_catalog.=) 'completed'
                  where d.flow_slug OPERATOR(pg_catalog.=) st.flow_slug
                    and d.step_slug OPERATOR(pg_catalog.=) st.step_slug
                ),
                '{}'::pg_catalog.jsonb
              )
            end,
            st.start_seq
          )::pgflow.claimed_task as task,
          s.timeout
        from started st
        cross join lateral (
          select r.input from pgflow.runs r where r.run_id OPERATOR(pg_catalog.=) st.run_id limit 1
        ) r
        cross join lateral (
          select s.step_type, s.deps_count, coalesce(s.opt_timeout, f.opt_timeout) as timeout
          from pgflow.steps s
          join pgflow.flows f on f.flow_slug OPERATOR(pg_catalog.=) s.flow_slug
          where s.flow_slug OPERATOR(pg_catalog.=) st.flow_slug
            and s.step_slug OPERATOR(pg_catalog.=) st.step_slug
          limit 1
        ) s
      ),
      hidden as (
        update pgmq.@table@ q
        set vt = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+)
              pg_catalog.make_interval(secs => coalesce(
                (select c.timeout from claimed c where c.message_id OPERATOR(pg_catalog.=) q.msg_id)
                  OPERATOR(pg_catalog.+) 2,
                $3
              ))@read@
        where q.msg_id OPERATOR(pg_catalog.=) any(array(@hide@))
      )
$t$, '@hide@', _claim_text.hide), '@read@', case when _claim_text.read then ',
            read_ct = q.read_ct OPERATOR(pg_catalog.+) 1,
            last_read_at = pg_catalog.clock_timestamp()' else '' end);
end;
$f$;
