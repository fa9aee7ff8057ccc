-- nomnom 0.1.0 -> 0.2.0. Every change of nomnom--0.2.0.sql against nomnom--0.1.0.sql is
-- made here too, so that an updated database has exactly a fresh install's objects,
-- comments and grants (test/e2e/extension_upgrade.sh compares the two).
\echo Use "ALTER EXTENSION nomnom UPDATE TO '0.2.0'" to load this file. \quit
