-- calculate_retry_delay(base_delay, attempts_count): seconds to wait before the next attempt,
-- floor(base_delay * 2^attempts_count) as in pgflow 0.8.1, capped at the largest int instead of
-- overflowing. Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.calculate_retry_delay(base_delay numeric, attempts_count int)
returns int
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select least(
    floor(calculate_retry_delay.base_delay * power(2::numeric, calculate_retry_delay.attempts_count)),
    2147483647
  )::int;
$$;
