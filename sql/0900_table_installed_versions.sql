-- pgflow.installed_versions: one row per install or upgrade of the pgflow-yaml core, written by
-- `pgflow install`; the row with the highest id is the version the database holds.
-- Raises nothing; the version must look like MAJOR.MINOR.PATCH (version_is_semantic).
create table pgflow.installed_versions (
  id bigint generated always as identity primary key,
  version text not null,
  previous_version text,
  installed_at timestamptz not null default pg_catalog.now(),
  installed_by text not null default current_user,
  constraint version_is_semantic check (version ~ '^\d+\.\d+\.\d+$'),
  constraint previous_version_is_semantic check (previous_version ~ '^\d+\.\d+\.\d+$')
);
