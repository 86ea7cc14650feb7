-- Upgrade the pgflow-yaml core from 0.1.0 to 0.2.0 (run by `pgflow install`, in one transaction,
-- followed by every function file of sql/ and the privilege files sql/0950_* onwards). Only the
-- DDL lives here: the functions named below are re-created from their own files.
--
-- 0.2.0 makes the batch calls set-based where 0.1.0 worked task by task or run by run:
-- - complete_tasks is set-based: one statement completes the batch's tasks, one counts their
--   steps down, one their children, one the runs; one pgmq call per flow archives the messages
--   and the steps the batch made ready start together, with one queue insert per flow
--   (_start_ready_steps now takes an array of runs; _advance_run can leave the starting to its
--   caller);
-- - start_flows(flow_slug, inputs, run_ids) starts many runs in one set-based call (start_flow
--   is the one-input case of the same code, _start_runs);
-- - complete_tasks and fail_tasks check their batch argument with one helper
--   (_check_task_batch); _lock_runs is plpgsql, so its plan is kept per session; claim_tasks
--   looks its orphan messages up per message instead of by an anti-join.
-- And it closes a fencing hole: release_tasks no longer gives the attempt back by lowering
-- attempts_count (the next holder got the same attempt number, so a late report of the released
-- start was accepted); it counts the release in the new step_tasks.released_count, which
-- fail_task subtracts when it compares attempts with max_attempts.
set search_path = pg_catalog, pg_temp;

alter table pgflow.step_tasks add column released_count int not null default 0;
alter table pgflow.step_tasks
  add constraint released_count_nonnegative check (released_count >= 0),
  add constraint released_count_within_attempts check (released_count <= attempts_count);

-- signatures that changed: the old functions go; the new ones come from their files in sql/
drop function pgflow._start_ready_steps(uuid);
drop function pgflow._advance_run(uuid);
