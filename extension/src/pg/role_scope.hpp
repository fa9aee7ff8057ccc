// Whose rights a statement runs with (README "Privileges").
//
// nomnom's own bookkeeping (the entity and stream catalogs, nomnom.message_status,
// nomnom.dead_letters) is written with the rights of the role that owns those tables, the
// one that created the extension; everything else (the entities' tables, their triggers,
// their row-level security) runs as the caller of ingest or the stream's run_as role.
#pragma once

#include "pg/pg_prelude.hpp"

namespace nomnom {

// The owner of nomnom's tables (of nomnom.message_status).
Oid nomnom_owner();

// The current user and security context, and switching to another role for a while.
// PostgreSQL-style: an ERROR between become() and restore() leaves the switch to the
// (sub)transaction abort, which puts the user of its start back.
struct SavedUser {
    Oid user = InvalidOid;
    int context = 0;
    int guc_nest_level = 0; // > 0: become_owner pinned search_path at this level
};
SavedUser become(Oid role);
void restore(const SavedUser& saved);

// nomnom's owner, for its bookkeeping, with search_path pinned to "pg_catalog, pg_temp"
// until restore(), as a SECURITY DEFINER function pins it: the caller's search_path (set by
// the caller, by ALTER ROLE, or by a trigger of a worker's run_as role) must not put its
// own operators or functions into a statement that runs with the owner's rights.
SavedUser become_owner();

// C++-style: the role for the life of the scope (restored by return or by exception).
class AsRole {
  public:
    explicit AsRole(Oid role);
    ~AsRole() { restore(saved_); }
    AsRole(const AsRole&) = delete;
    AsRole& operator=(const AsRole&) = delete;

  protected:
    explicit AsRole(const SavedUser& saved) : saved_(saved) {}

  private:
    SavedUser saved_;
};

// nomnom's bookkeeping statements run as nomnom_owner() inside this scope (become_owner).
class AsOwner : public AsRole {
  public:
    AsOwner();
};

} // namespace nomnom
