#!/usr/bin/env bash
# Stream option run_as (README "Privileges"): the workers connect as that role, so its
# grants, row-level security and triggers apply; a write it may not make is a dead letter
# naming the privilege; a new run_as restarts the workers as the new role.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin publish

stack_start_nats
stack_start_pg preload
sql "CREATE EXTENSION nomnom" >/dev/null
sql "CREATE ROLE nn_ingester LOGIN" >/dev/null
# nn_ingester's own schema, first in its search_path, with a jsonb || of its own that notes
# whoever runs it but nn_ingester: nomnom's bookkeeping (its owner's, here a superuser)
# must not run it (role_scope's become_owner pins search_path).
sql "CREATE SCHEMA evil AUTHORIZATION nn_ingester
     ; SET ROLE nn_ingester
     ; CREATE TABLE evil.pwned (who text)
     ; CREATE FUNCTION evil.cat(a jsonb, b jsonb) RETURNS jsonb LANGUAGE plpgsql AS
       \$\$ BEGIN IF current_user <> 'nn_ingester' THEN INSERT INTO evil.pwned VALUES (current_user); END IF;
               RETURN pg_catalog.jsonb_concat(a, b); END \$\$
     ; CREATE OPERATOR evil.|| (leftarg = jsonb, rightarg = jsonb, function = evil.cat)
     ; RESET ROLE
     ; ALTER ROLE nn_ingester SET search_path = evil, pg_catalog, public" >/dev/null
sql "CREATE TABLE items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, k text UNIQUE NOT NULL,
                         region text, written_by text)
     ; CREATE FUNCTION items_stamp() RETURNS trigger LANGUAGE plpgsql AS
       \$\$ BEGIN NEW.written_by := current_user || '/' || session_user; RETURN NEW; END \$\$
     ; CREATE TRIGGER items_stamp BEFORE INSERT OR UPDATE ON items FOR EACH ROW EXECUTE FUNCTION items_stamp()
     ; ALTER TABLE items ENABLE ROW LEVEL SECURITY
     ; CREATE POLICY items_not_secret ON items TO nn_ingester USING (true) WITH CHECK (region <> 'secret')
     ; GRANT SELECT, INSERT, UPDATE ON items TO nn_ingester
     ; CREATE TABLE audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text)" >/dev/null
sql "SELECT nomnom.define_entity('{\"name\": \"Item\", \"table\": \"items\", \"unique\": [\"k\"],
     \"fields\": [{\"name\": \"k\", \"type\": \"text\", \"nullable\": false}, {\"name\": \"region\", \"type\": \"text\"}]}', false)" >/dev/null
sql "SELECT nomnom.define_entity('{\"name\": \"Audit\", \"table\": \"audit\",
     \"fields\": [{\"name\": \"note\", \"type\": \"text\"}]}', false)" >/dev/null
sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{\"run_as\": \"nn_ingester\"}')" >/dev/null
wait_for 30 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'nomnom worker' AND usename = 'nn_ingester'" \
    "the worker connected as nn_ingester"

publish --subject messages.ingest.Item --msg-id item-1 --body '{"k": "k1", "region": "eu"}'
publish --subject messages.ingest.Item --msg-id item-2 --body '{"k": "k2", "region": "secret"}'
publish --subject messages.ingest.Audit --msg-id audit-1 --body '{"note": "not allowed"}'
wait_for 30 "SELECT count(*) = 1 FROM items" "k1 written"
wait_for 30 "SELECT count(*) = 2 FROM nomnom.dead_letters" "two dead letters"
assert_eq "$(sql "SELECT written_by FROM items WHERE k = 'k1'")" "nn_ingester/nn_ingester" "the trigger ran as nn_ingester"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters WHERE entity = 'Item' AND error LIKE '%row-level security%'")" 1 \
    "row-level security refused k2: a dead letter"
assert_eq "$(sql "SELECT error FROM nomnom.dead_letters WHERE entity = 'Audit'")" \
    '42501: entity "Audit": permission denied: role "nn_ingester" lacks the INSERT privilege on table public.audit' \
    "no INSERT on audit: a dead letter naming the privilege"
assert_eq "$(sql "SELECT string_agg(status, ',' ORDER BY entity, status) FROM nomnom.message_status")" \
    "dead_letter,completed,dead_letter" "message_status written for every message"
# nomnom's bookkeeping is its owner's: nn_ingester may not touch it, yet it was written.
assert_eq "$(sql "SELECT has_table_privilege('nn_ingester', 'nomnom.message_status', 'INSERT') OR
                         has_table_privilege('nn_ingester', 'nomnom.dead_letters', 'INSERT') OR
                         has_table_privilege('nn_ingester', 'nomnom.stream_catalog', 'SELECT')")" f \
    "nn_ingester has no rights on message_status, dead_letters or the stream catalog"

assert_eq "$(sql "SELECT count(*) FROM evil.pwned")" 0 \
    "nn_ingester's search_path put none of its operators into nomnom's bookkeeping"

# CONNECTION LIMIT: PostgreSQL 15 (15.20 here) does not apply a role's limit to background
# workers, not even while the role's sessions exceed it.
PGAPPNAME=nn-session "$(_stack_pg_bindir)/psql" -X -h 127.0.0.1 -p "$PGPORT" -U nn_ingester -d "$NOMNOM_DB" \
    -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
session=$!
wait_for 30 "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'nn-session' AND usename = 'nn_ingester'" \
    "a session of nn_ingester"
sql "ALTER ROLE nn_ingester CONNECTION LIMIT 0" >/dev/null
old_pid=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'nomnom worker'")
sql "SELECT pg_terminate_backend($old_pid)" >/dev/null
wait_for 30 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'nomnom worker' AND usename = 'nn_ingester'
             AND pid <> $old_pid" "CONNECTION LIMIT 0 with a session open: the restarted worker connects"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'nn-session'" >/dev/null
wait "$session" || true
sql "ALTER ROLE nn_ingester CONNECTION LIMIT -1" >/dev/null

# A worker refused at connection (here: the database not accepting connections) restarts
# with the launcher's backoff, and its slot's last_error says why.
pg_other() { stack_psql postgres -XtAq -c "$1"; }
pg_other "ALTER DATABASE $NOMNOM_DB ALLOW_CONNECTIONS false"
pg_other "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'nomnom worker'" >/dev/null
wait_until 30 grep -q "FATAL:  database \"$NOMNOM_DB\" is not currently accepting connections" "$NOMNOM_PG_LOG" ||
    fail "the worker was not refused"
pg_other "ALTER DATABASE $NOMNOM_DB ALLOW_CONNECTIONS true"
wait_for 30 "SELECT state = 'running' FROM nomnom.stream_status WHERE name = 'MESSAGES'" "the worker runs again"
assert_eq "$(sql "SELECT last_error FROM nomnom.stream_status WHERE name = 'MESSAGES'")" \
    "could not connect to the database: database \"$NOMNOM_DB\" is not currently accepting connections" \
    "last_error says why the worker could not connect"

# A new run_as: the worker restarts as that role
sql "SELECT nomnom.alter_stream('MESSAGES', '{\"run_as\": \"postgres\"}')" >/dev/null
wait_for 30 "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'nomnom worker' AND usename = 'postgres'" \
    "the worker restarted as postgres"
publish --subject messages.ingest.Item --msg-id item-3 --body '{"k": "k3", "region": "secret"}'
wait_for 30 "SELECT count(*) = 1 FROM items WHERE k = 'k3'" "k3 written (the policy is nn_ingester's)"
assert_eq "$(sql "SELECT written_by FROM items WHERE k = 'k3'")" "postgres/postgres" "the trigger ran as postgres"
echo "ok: run_as" >&2
