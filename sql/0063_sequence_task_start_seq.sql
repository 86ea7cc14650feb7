-- Sequence task_start_seq: numbers every start of every task (_start_tasks stores the number in
-- step_tasks.start_seq and hands it to the worker). A number is never handed out twice, across
-- retries, requeues, releases and retry_run, so a report carrying it names one start alone.
-- Raises nothing; created only when missing.
set search_path = pg_catalog, pg_temp;

create sequence if not exists pgflow.task_start_seq as bigint;
