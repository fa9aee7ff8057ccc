// JetStream streams deleted when the transaction that asked for it ends: drop_stream's
// deletion once its transaction commits, create_stream's new stream once its transaction
// (or the savepoint it ran in) rolls back. PostgreSQL's own model is storage.c's pending
// deletes: a relation's file is created at once and deleted again at abort, and a dropped
// relation's file is deleted only at commit.
//
// PostgreSQL-style. At commit (or abort) nothing can roll back any more: a deletion that
// fails there is a WARNING naming the stream, never an ERROR.
#pragma once

namespace nomnom {

enum class StreamDeletedAt {
    kCommit, // drop_stream(name, delete_jetstream => true)
    kAbort,  // a stream create_stream made that did not exist before
};

// Deletes JetStream stream `name` when the current (sub)transaction ends so, connecting with
// the effective options `effective_options_json` (nomnom.effective_stream_options' text;
// already checked: parsing it cannot fail). A savepoint rolled back forgets its commit-time
// deletions and runs its abort-time ones.
void delete_stream_at(StreamDeletedAt when, const char* name, const char* effective_options_json);

// Whether this transaction is to delete JetStream stream `name` at commit.
bool stream_deleted_at_commit(const char* name);

} // namespace nomnom
