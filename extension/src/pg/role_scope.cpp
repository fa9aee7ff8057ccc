#include "pg/role_scope.hpp"

#include "pg/pg_guard.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace nomnom {

Oid nomnom_owner() {
    Oid relid = get_relname_relid("message_status", get_namespace_oid("nomnom", false));
    if (!OidIsValid(relid))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                        errmsg("nomnom: the table nomnom.message_status is missing")));
    HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tuple))
        elog(ERROR, "nomnom: cache lookup failed for relation %u", relid);
    Oid owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->relowner;
    ReleaseSysCache(tuple);
    return owner;
}

SavedUser become(Oid role) {
    SavedUser saved;
    GetUserIdAndSecContext(&saved.user, &saved.context);
    // A local user id change: SET ROLE and SET SESSION AUTHORIZATION are refused meanwhile.
    SetUserIdAndSecContext(role, saved.context | SECURITY_LOCAL_USERID_CHANGE |
                                     SECURITY_RESTRICTED_OPERATION);
    return saved;
}

SavedUser become_owner() {
    SavedUser saved = become(nomnom_owner());
    saved.guc_nest_level = NewGUCNestLevel();
    (void)set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
                            GUC_ACTION_SAVE, true, 0, false);
    return saved;
}

void restore(const SavedUser& saved) {
    if (saved.guc_nest_level > 0)
        AtEOXact_GUC(true, saved.guc_nest_level); // the caller's search_path again
    SetUserIdAndSecContext(saved.user, saved.context);
}

AsRole::AsRole(Oid role) {
    saved_ = become(role);
}

namespace {
SavedUser owner_for_scope() {
    SavedUser saved;
    pg_call([&] { saved = become_owner(); });
    return saved;
}
} // namespace

AsOwner::AsOwner() : AsRole(owner_for_scope()) {}

} // namespace nomnom
