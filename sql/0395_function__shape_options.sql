-- pgflow._shape_options(row_json): the options of a flow or step row (given as to_jsonb of the
-- row) in the shape's JSON form: every opt_* column that is not null, named in camelCase
-- (opt_max_attempts -> maxAttempts, as pgflow_yaml.options.Key.shape_key names it), so that a
-- new option column needs no change here. Returns {} when the row sets no option.
-- Raises nothing.
set search_path = pg_catalog, pg_temp;

create or replace function pgflow._shape_options(row_json jsonb)
returns jsonb
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(
    jsonb_object_agg(
      lower(left(o.name, 1)) || substr(replace(initcap(replace(o.name, '_', ' ')), ' ', ''), 2),
      o.value
    ),
    '{}'::jsonb
  )
  from (
    select substr(e.key, 5) as name, e.value
    from jsonb_each(_shape_options.row_json) as e (key, value)
    where e.key like 'opt\_%' and jsonb_typeof(e.value) <> 'null'
  ) as o;
$$;
