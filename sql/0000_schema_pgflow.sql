-- Create the pgflow schema that holds every table, type and function of the core.
-- Raises nothing; safe to run again.
set search_path to '';

create schema if not exists pgflow;
