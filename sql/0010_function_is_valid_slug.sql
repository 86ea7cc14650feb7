-- is_valid_slug(slug): true when slug can name a flow or a step: 1-128 characters of
-- [a-zA-Z0-9_], not starting with a digit, and not the reserved word "run" (the run input's key).
-- Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow.is_valid_slug(slug text)
returns boolean
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select is_valid_slug.slug is not null
    and is_valid_slug.slug <> ''
    and length(is_valid_slug.slug) <= 128
    and is_valid_slug.slug ~ '^[a-zA-Z_][a-zA-Z0-9_]*$'
    and is_valid_slug.slug <> 'run';
$$;
