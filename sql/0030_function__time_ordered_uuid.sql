-- _time_ordered_uuid(): a random UUID whose first 48 bits are the current Unix time in
-- milliseconds (the UUID version 7 layout). Run ids made this way sort by creation time, so the
-- runs, step_states and step_tasks indexes (all led by run_id) are written and read at their
-- recent end instead of at random pages: claims stay cheap with a large backlog.
-- Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._time_ordered_uuid()
returns uuid
language sql
volatile
set search_path = pg_catalog, pg_temp
as $$
  select encode(
    set_bit(
      set_bit(
        overlay(
          uuid_send(gen_random_uuid())
          placing substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
          from 1 for 6
        ),
        52, 1
      ),
      53, 1
    ),
    'hex'
  )::uuid;
$$;
