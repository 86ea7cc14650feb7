-- Upgrade the pgflow-yaml core from 0.2.0 to 0.3.0 (run by `pgflow install`, in one transaction,
-- followed by every function file of sql/ and the privilege files sql/0950_* onwards). Only the
-- DDL lives here: function bodies are re-created from their own files.
--
-- 0.3.0 closes the holes of a security and fault probe:
-- - every function pins search_path = pg_catalog, pg_temp (pg_temp last; '' searched pg_temp
--   first for types and relations, so a caller with TEMP could run code as the owner).
set search_path = pg_catalog, pg_temp;
