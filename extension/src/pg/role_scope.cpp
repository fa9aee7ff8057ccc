#include "pg/role_scope.hpp"

#include "pg/pg_guard.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
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

void restore(const SavedUser& saved) {
    SetUserIdAndSecContext(saved.user, saved.context);
}

AsRole::AsRole(Oid role) {
    saved_ = become(role);
}

namespace {
Oid owner_for_scope() {
    Oid owner = InvalidOid;
    pg_call([&] { owner = nomnom_owner(); });
    return owner;
}
} // namespace

AsOwner::AsOwner() : AsRole(owner_for_scope()) {}

} // namespace nomnom
