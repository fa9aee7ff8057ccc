#include "catalog/entity_registry.hpp"

#include <map>

#include "pg/pg_guard.hpp"
#include "pg/spi_session.hpp"

namespace nomnom {
namespace {

std::map<std::string, std::shared_ptr<ResolvedTree>> cache;
// The trees of the cache before it went stale. Most invalidations change nothing a tree
// holds (an autovacuum or ANALYZE updating a table's statistics in pg_class, a sinval
// reset): a tree rebuilt the same as before (ResolvedTree::signature) is the old object
// again, so that what a worker's prefetch thread mapped with it is still taken by the
// writer (bench/README.md, item 25). Any difference makes the new tree the current one.
// Only the trees of the cache just gone stale are kept: a root not resolved again before
// the next rebuild (an entity dropped, or no longer routed to) is let go then, with its
// prepared plans, so that `previous` never holds more than one cache's worth.
std::map<std::string, std::shared_ptr<ResolvedTree>> previous;
bool cache_stale = true;
bool callback_registered = false;
std::vector<Oid> watched_relids; // catalog and target tables; read by the callback

// Runs on relcache invalidation; may not allocate or raise, so it only sets a flag.
void on_relcache_invalidation(Datum, Oid relid) {
    if (relid == InvalidOid) {
        cache_stale = true;
        return;
    }
    for (Oid watched : watched_relids)
        if (watched == relid)
            cache_stale = true;
}

void drop_stale_cache() {
    if (!callback_registered) {
        pg_call([] { CacheRegisterRelcacheCallback(on_relcache_invalidation, 0); });
        callback_registered = true;
    }
    if (!cache_stale)
        return;
    // Trees still held elsewhere (a pending ingest, a prefetch) live on until released.
    previous = std::move(cache);
    cache.clear();
    watched_relids.clear();
    watched_relids.push_back(entity_catalog_relid());
    cache_stale = false;
}

std::shared_ptr<ResolvedTree> build_resolved_tree(const std::string& root_entity) {
    std::vector<EntitySpec> specs = load_entity_specs();
    auto resolved = std::make_shared<ResolvedTree>();
    try {
        resolved->tree = EntityTree::build(specs, root_entity);
    } catch (const SpecError& error) {
        throw DataError(error.what(), sqlstate_code(error.sqlstate));
    }
    const EntityTree& tree = resolved->tree;
    resolved->entities.resize(tree.entities.size());
    for (size_t i = 0; i < tree.entities.size(); ++i) {
        ResolvedEntity& entity = resolved->entities[i];
        const EntitySpec& spec = tree.entities[i];
        entity.spec = &spec;
        entity.parent = tree.parent[i];
        entity.children = tree.children[i];
        TableName table = resolve_table_name(spec.table);
        if (table.relid == InvalidOid)
            throw DataError("entity \"" + spec.name + "\": table \"" + spec.table + "\" does not exist",
                            ERRCODE_UNDEFINED_TABLE);
        entity.table_sql = table.sql;
        entity.relid = table.relid;
        watched_relids.push_back(entity.relid);
        resolved->signature += spec.to_json();
        resolved->signature += '\n' + std::to_string(entity.relid) + ' ' + entity.table_sql + '\n';
        for (const FieldSpec& field : spec.fields)
            resolved->uses_metadata |= field.source != FieldSource::Document;
        for (const FieldSpec& field : spec.fields) {
            std::string where = "entity \"" + spec.name + "\", field \"" + field.name + "\"";
            if (field.function.empty()) {
                entity.columns.push_back(resolve_column(field.type, where));
                continue;
            }
            entity.columns.push_back(resolve_column("jsonb", where));
            entity.columns.back().function_sql =
                resolve_field_function(field.function, where).call_sql;
        }
        for (const Column& column : entity.columns)
            resolved->signature +=
                std::to_string(column.type_oid) + ' ' + std::to_string(column.typmod) + ' ' +
                std::to_string(column.typioparam) + ' ' + std::to_string(column.output_fn) + ' ' +
                column.type_sql + ' ' + column.function_sql + '\n';
    }
    // Links need both ends resolved.
    for (size_t i = 1; i < tree.entities.size(); ++i) {
        ResolvedEntity& child = resolved->entities[i];
        ResolvedEntity& parent = resolved->entities[child.parent];
        for (size_t f = 0; f < child.spec->fields.size(); ++f) {
            const std::string& source = child.spec->fields[f].from_parent;
            if (source.empty())
                continue;
            int parent_field = parent.spec->parent_field_index(source);
            if (parent_field == EntitySpec::kNoParentField)
                throw DataError("entity \"" + child.spec->name + "\", field \"" +
                                    child.spec->fields[f].name + "\": parent entity \"" +
                                    parent.spec->name + "\" has no field \"" + source + "\"",
                                ERRCODE_UNDEFINED_COLUMN);
            if (parent_field < 0)
                parent.returns_id = true;
            child.links.push_back(LinkField{static_cast<int>(f), parent_field});
        }
    }
    for (ResolvedEntity& entity : resolved->entities)
        entity.layout = tuple_layout(entity);
    return resolved;
}

} // namespace

Oid entity_catalog_relid() {
    Oid relid = InvalidOid;
    pg_call([&] {
        Oid schema = get_namespace_oid("nomnom", true);
        if (OidIsValid(schema))
            relid = get_relname_relid("entity_catalog", schema);
    });
    if (relid == InvalidOid)
        throw DataError("the nomnom extension is not installed in this database",
                        ERRCODE_UNDEFINED_OBJECT);
    return relid;
}

void invalidate_entity_cache() {
    Oid relid = entity_catalog_relid();
    pg_call([&] { CacheInvalidateRelcacheByRelid(relid); });
    cache_stale = true;
}

std::vector<EntitySpec> load_entity_specs() {
    std::vector<EntitySpec> specs;
    SpiSession spi;
    for (const TextRow& row : spi_query("SELECT spec::text FROM nomnom.entity_catalog ORDER BY name",
                                        {}, true)) {
        try {
            specs.push_back(parse_entity_spec(*row[0]));
        } catch (const SpecError& error) {
            throw DataError(std::string("nomnom.entity_catalog holds a bad spec: ") + error.what(),
                            ERRCODE_DATA_CORRUPTED);
        }
    }
    return specs;
}

Column resolve_column(const std::string& type, const std::string& where) {
    Column column;
    try {
        pg_call([&] {
            parseTypeString(type.c_str(), &column.type_oid, &column.typmod, false);
            Oid input_fn;
            getTypeInputInfo(column.type_oid, &input_fn, &column.typioparam);
            fmgr_info_cxt(input_fn, &column.input, TopMemoryContext);
            bool is_varlena;
            getTypeOutputInfo(column.type_oid, &column.output_fn, &is_varlena);
            bool preferred;
            get_type_category_preferred(column.type_oid, &column.category, &preferred);
            column.array_type = get_array_type(column.type_oid);
            column.type_sql = format_type_with_typemod(column.type_oid, column.typmod);
        });
    } catch (const PgError& error) {
        throw DataError(where + ": " + (error.sqlerrcode() == ERRCODE_UNDEFINED_OBJECT
                                            ? "unknown type \"" + type + "\""
                                            : std::string(error.what())),
                        error.sqlerrcode());
    }
    return column;
}

FieldFunction resolve_field_function(const std::string& name, const std::string& where) {
    std::vector<TextRow> found;
    try {
        found = spi_query("SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname), "
                          "  p.prorettype::oid::text, p.proretset "
                          "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n "
                          "  ON n.oid = p.pronamespace "
                          "WHERE p.oid = pg_catalog.to_regprocedure($1)",
                          {name + "(jsonb)"}, true);
    } catch (const PgError& error) {
        throw DataError(where + ": function \"" + name + "\": " + error.what(), error.sqlerrcode());
    }
    if (found.empty())
        throw DataError(where + ": function " + name + "(jsonb) does not exist",
                        ERRCODE_UNDEFINED_FUNCTION);
    if (*found[0][2] == "t")
        throw DataError(where + ": function " + name + "(jsonb) returns a set, not one value",
                        ERRCODE_INVALID_FUNCTION_DEFINITION);
    return FieldFunction{*found[0][0], static_cast<Oid>(std::stoul(*found[0][1]))};
}

std::shared_ptr<ResolvedTree> resolve_tree(const std::string& root_entity) {
    drop_stale_cache();
    auto found = cache.find(root_entity);
    if (found != cache.end())
        return found->second;
    std::shared_ptr<ResolvedTree> built = build_resolved_tree(root_entity);
    auto old = previous.find(root_entity);
    if (old != previous.end()) {
        if (old->second->signature == built->signature)
            built = std::move(old->second); // the new one is freed: it prepared no plans
        previous.erase(old);
    }
    cache.emplace(root_entity, built);
    return built;
}

ResolvedTree::~ResolvedTree() {
    // SPI_freeplan only releases memory; it does not raise.
    for (ResolvedEntity& entity : entities) {
        if (entity.insert_plan)
            SPI_freeplan(entity.insert_plan);
        if (entity.plain_insert_plan)
            SPI_freeplan(entity.plain_insert_plan);
        if (entity.delete_plan)
            SPI_freeplan(entity.delete_plan);
        if (entity.event_insert_plan)
            SPI_freeplan(entity.event_insert_plan);
        if (entity.event_plain_insert_plan)
            SPI_freeplan(entity.event_plain_insert_plan);
    }
}

} // namespace nomnom
