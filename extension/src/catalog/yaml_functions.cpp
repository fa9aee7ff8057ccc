// SQL function nomnom.import_yaml: the original nomnom's entity YAML, defined in one go.
// The YAML is read and translated by the core (nomnom/yaml_import.hpp); each spec is then
// defined as define_entity would, in the caller's transaction, so an error anywhere leaves
// nothing defined.
#include <string>
#include <vector>

#include "pg/pg_prelude.hpp"

#include "catalog/entity_functions.hpp"
#include "catalog/entity_registry.hpp"
#include "nomnom/yaml_import.hpp"
#include "pg/pg_guard.hpp"
#include "pg/spi_session.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(nomnom_import_yaml);
}

namespace nomnom {
namespace {

void import_yaml(FunctionCallInfo fcinfo, const std::string& yaml, bool create_table) {
    std::vector<EntitySpec> known;
    {
        SpiSession spi;
        known = load_entity_specs();
    }
    std::vector<ImportedEntity> entities;
    try {
        entities = translate_entity_yaml(yaml, known);
    } catch (const SpecError& error) {
        throw DataError(std::string("import_yaml: ") + error.what(), sqlstate_code(error.sqlstate));
    }
    std::vector<std::string> names;
    for (const ImportedEntity& entity : entities) {
        // define_entity reads the catalog read-only, through the active snapshot: let it see
        // the entities this call defined before (a parent, for its child).
        pg_call([] {
            CommandCounterIncrement();
            PushCopiedSnapshot(GetActiveSnapshot());
            UpdateActiveSnapshotCommandId();
        });
        try {
            names.push_back(define_entity(entity.spec_json, create_table));
            pg_call([] { PopActiveSnapshot(); });
        } catch (const DataError& error) {
            throw DataError("import_yaml: document " + std::to_string(entity.document) + ": " +
                                error.what(),
                            error.sqlerrcode(), error.detail());
        } // a PgError goes up as it is; the abort pops the snapshot
    }
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    pg_call([&] {
        InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
        for (const std::string& name : names) {
            Datum value = CStringGetTextDatum(name.c_str());
            bool null = false;
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &null);
        }
    });
}

} // namespace
} // namespace nomnom

Datum nomnom_import_yaml(PG_FUNCTION_ARGS) {
    char* yaml = text_to_cstring(PG_GETARG_TEXT_PP(0));
    bool create_table = PG_GETARG_BOOL(1);
    nomnom::run_guarded([&] { nomnom::import_yaml(fcinfo, yaml, create_table); });
    return (Datum)0;
}
