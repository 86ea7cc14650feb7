-- pgflow._get_flow_shape(flow_slug): the shape of a flow as the database holds it, in the JSON
-- form that pgflow_yaml.shape.flow_shape builds from a flow file: steps by step_index, each with
-- slug, stepType, dependencies (sorted by code point), whenUnmet, whenExhausted, the two
-- patterns wrapped as {"defined": false} / {"defined": true, "value": ...}, and the options
-- the step sets itself, "signal": true on a signal step and "flow": <child flow slug> on a sub-flow step; plus the flow's options (both by pgflow._shape_options, so a new opt_*
-- column shows up here without a change). Returns null when the flow does not exist.
-- Raises nothing.
create or replace function pgflow._get_flow_shape(flow_slug text)
returns jsonb
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $get_flow_shape$
declare
  shape jsonb;
begin
  select jsonb_build_object(
    'steps', coalesce((
      select jsonb_agg(
        jsonb_build_object(
          'slug', s.step_slug,
          'stepType', s.step_type,
          'dependencies', coalesce((
            select jsonb_agg(d.dep_slug order by d.dep_slug collate "C")
            from pgflow.deps as d
            where d.flow_slug = s.flow_slug
              and d.step_slug = s.step_slug
          ), '[]'::jsonb),
          'whenUnmet', s.when_unmet,
          'whenExhausted', s.when_exhausted,
          'requiredInputPattern', case
            when s.required_input_pattern is null then jsonb_build_object('defined', false)
            else jsonb_build_object('defined', true, 'value', s.required_input_pattern)
          end,
          'forbiddenInputPattern', case
            when s.forbidden_input_pattern is null then jsonb_build_object('defined', false)
            else jsonb_build_object('defined', true, 'value', s.forbidden_input_pattern)
          end,
          'options', pgflow._shape_options(to_jsonb(s))
        ) || case when s.signal_schema is not null then '{"signal": true}'::jsonb else '{}' end
          || case when s.child_flow_slug is not null
            then jsonb_build_object('flow', s.child_flow_slug) else '{}' end
        order by s.step_index
      )
      from pgflow.steps as s
      where s.flow_slug = f.flow_slug
    ), '[]'::jsonb),
    'options', pgflow._shape_options(to_jsonb(f))
  )
  into shape
  from pgflow.flows as f
  where f.flow_slug = _get_flow_shape.flow_slug;

  return shape;
end;
$get_flow_shape$;
