-- pgflow.assert_flow_shape(flow_slug, shape): the shape guard of a compiled migration. Does
-- nothing when the flow does not exist or has the same shape (pgflow.compare_flow_shape);
-- otherwise raises one exception (SQLSTATE PF001, flow_shape_mismatch) whose message lists
-- every difference, so the migration aborts before it changes anything. Takes the flow's
-- advisory lock (as upstream ensure_flow_compiled does) so concurrent migrations of one flow
-- run one after the other.
-- Raises PF001 on a shape mismatch; whatever compare_flow_shape raises on a malformed shape.
create or replace function pgflow.assert_flow_shape(flow_slug text, shape jsonb)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $assert_flow_shape$
declare
  differences text[];
begin
  perform pg_catalog.pg_advisory_xact_lock(1, pg_catalog.hashtext(assert_flow_shape.flow_slug));

  differences := pgflow.compare_flow_shape(assert_flow_shape.flow_slug, assert_flow_shape.shape);
  if differences is null or cardinality(differences) = 0 then
    return;
  end if;

  raise exception using
    errcode = 'PF001',
    message = format(
      E'flow %s already exists with another shape (database vs compiled):\n  %s',
      assert_flow_shape.flow_slug,
      array_to_string(differences, E'\n  ')
    ),
    hint = 'Runs in flight depend on the stored shape: compile the changed flow under a new '
      || 'or versioned slug (docs/evolving-flows.md), or delete the old flow first.';
end;
$assert_flow_shape$;
