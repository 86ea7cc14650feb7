-- Create the pgflow schema that holds every table, type and function of the core.
-- Raises nothing; safe to run again.
--
-- The public functions that change runs carry `set enable_seqscan to off`: plpgsql caches a
-- generic plan per statement and per session, and a plan made while a table was small keeps its
-- sequential scan as the table grows, so a long-lived worker connection slowed down linearly with
-- the number of runs (measured: 2.4 s -> 30 s per 1,000 started runs after 12,000 runs). With
-- sequential scans priced out, the key lookups stay on their indexes whatever the table size.
set search_path = pg_catalog, pg_temp;

create schema if not exists pgflow;
