-- pgflow.compare_flow_shape(flow_slug, shape): every difference between the flow the database
-- holds and a compiled shape (pgflow_yaml.shape.flow_shape), as readable lines such as
-- `step 2 (ship): depends_on [a] vs [a, b]` (database value first, step numbers are step_index).
-- Compared per step index: slug, step type, kind (handler, signal, or the flow a sub-flow step runs), dependencies,
-- when_unmet, when_exhausted, the if / if_not patterns (as jsonb, so key order and spacing do
-- not matter), and steps present on one side only. Options are not shape: they are never compared here.
-- Runs as its owner (it only reads definitions), so a role allowed to execute it, such as
-- pgflow_worker checking its flows at start-up, needs no other privilege.
-- Returns null when the flow does not exist, an empty array when the shapes match.
-- Raises when shape is not a JSON object with a "steps" array of objects, or when a step's
-- "dependencies" is there but not an array.
create or replace function pgflow.compare_flow_shape(flow_slug text, shape jsonb)
returns text[]
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $compare_flow_shape$
declare
  db_steps jsonb;
  file_steps jsonb;
  db_step jsonb;
  file_step jsonb;
  db_value text;
  file_value text;
  label text;
  db_count int;
  file_count int;
  differences text[] := '{}';
begin
  if compare_flow_shape.shape is null
    or jsonb_typeof(compare_flow_shape.shape) <> 'object'
    or jsonb_typeof(compare_flow_shape.shape -> 'steps') is distinct from 'array'
  then
    raise exception 'shape must be a JSON object with a "steps" array, got %',
      left(coalesce(compare_flow_shape.shape::text, 'null'), 200);
  end if;

  file_steps := compare_flow_shape.shape -> 'steps';
  if exists (
    select 1 from jsonb_array_elements(file_steps) as e (step) where jsonb_typeof(e.step) <> 'object'
  ) then
    raise exception 'every element of shape.steps must be a JSON object, got %',
      left(file_steps::text, 200);
  end if;
  if exists (
    select 1 from jsonb_array_elements(file_steps) as e (step)
    where jsonb_typeof(e.step -> 'dependencies') <> 'array'
  ) then
    raise exception 'the dependencies of a step in shape.steps must be a JSON array, got %',
      left(file_steps::text, 200);
  end if;

  db_steps := pgflow._get_flow_shape(compare_flow_shape.flow_slug) -> 'steps';
  if db_steps is null then
    return null;
  end if;

  db_count := jsonb_array_length(db_steps);
  file_count := jsonb_array_length(file_steps);
  if db_count <> file_count then
    differences := differences || format('step count: %s vs %s', db_count, file_count);
  end if;

  for i in 0 .. greatest(db_count, file_count) - 1 loop
    db_step := db_steps -> i;
    file_step := file_steps -> i;

    if file_step is null then
      differences := differences
        || format('step %s (%s): only in the database', i, db_step ->> 'slug');
      continue;
    end if;
    if db_step is null then
      differences := differences
        || format('step %s (%s): only in the compiled flow', i, file_step ->> 'slug');
      continue;
    end if;

    label := format('step %s (%s)', i, file_step ->> 'slug');

    if (db_step ->> 'slug') is distinct from (file_step ->> 'slug') then
      differences := differences
        || format('%s: slug %s vs %s', label, db_step ->> 'slug', file_step ->> 'slug');
    end if;

    db_value := db_step ->> 'stepType';
    file_value := coalesce(file_step ->> 'stepType', 'single');
    if db_value is distinct from file_value then
      differences := differences
        || format('%s: step_type %s vs %s', label, db_value, file_value);
    end if;

    db_value := case when (db_step -> 'signal') = 'true' then 'signal'
      when db_step ? 'flow' then 'flow ' || (db_step ->> 'flow') else 'handler' end;
    file_value := case when (file_step -> 'signal') = 'true' then 'signal'
      when file_step ? 'flow' then 'flow ' || (file_step ->> 'flow') else 'handler' end;
    if db_value is distinct from file_value then
      differences := differences || format('%s: kind %s vs %s', label, db_value, file_value);
    end if;
    select '[' || coalesce(string_agg(e.dep, ', ' order by e.dep collate "C"), '') || ']'
    into db_value
    from jsonb_array_elements_text(coalesce(db_step -> 'dependencies', '[]'::jsonb)) as e (dep);
    select '[' || coalesce(string_agg(e.dep, ', ' order by e.dep collate "C"), '') || ']'
    into file_value
    from jsonb_array_elements_text(coalesce(file_step -> 'dependencies', '[]'::jsonb)) as e (dep);
    if db_value is distinct from file_value then
      differences := differences
        || format('%s: depends_on %s vs %s', label, db_value, file_value);
    end if;

    db_value := db_step ->> 'whenUnmet';
    file_value := coalesce(file_step ->> 'whenUnmet', 'skip');
    if db_value is distinct from file_value then
      differences := differences
        || format('%s: when_unmet %s vs %s', label, db_value, file_value);
    end if;

    db_value := db_step ->> 'whenExhausted';
    file_value := coalesce(file_step ->> 'whenExhausted', 'fail');
    if db_value is distinct from file_value then
      differences := differences
        || format('%s: when_exhausted %s vs %s', label, db_value, file_value);
    end if;

    if (db_step #> '{requiredInputPattern,value}')
      is distinct from (file_step #> '{requiredInputPattern,value}')
    then
      differences := differences || format(
        '%s: if %s vs %s', label,
        coalesce((db_step #> '{requiredInputPattern,value}')::text, '(none)'),
        coalesce((file_step #> '{requiredInputPattern,value}')::text, '(none)')
      );
    end if;

    if (db_step #> '{forbiddenInputPattern,value}')
      is distinct from (file_step #> '{forbiddenInputPattern,value}')
    then
      differences := differences || format(
        '%s: if_not %s vs %s', label,
        coalesce((db_step #> '{forbiddenInputPattern,value}')::text, '(none)'),
        coalesce((file_step #> '{forbiddenInputPattern,value}')::text, '(none)')
      );
    end if;
  end loop;

  return differences;
end;
$compare_flow_shape$;
