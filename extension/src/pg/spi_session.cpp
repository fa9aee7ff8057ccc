#include "pg/spi_session.hpp"

namespace nomnom {

SPIPlanPtr prepare_kept_plan(const char* sql, int nargs, const Oid* types, int cursor_options) {
    SPIPlanPtr plan = SPI_prepare_cursor(sql, nargs, const_cast<Oid*>(types), cursor_options);
    if (plan == nullptr)
        elog(ERROR, "nomnom: cannot prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
    SPI_keepplan(plan);
    return plan;
}

void spi_execute_expect(const char* sql, int nargs, Oid* types, Datum* values, const char* nulls,
                        bool read_only, long count, int expected, const char* what) {
    int rc = SPI_execute_with_args(sql, nargs, types, values, nulls, read_only, count);
    if (rc != expected)
        elog(ERROR, "%s failed: %s", what, SPI_result_code_string(rc));
}

std::vector<TextRow> spi_query(const std::string& sql,
                               const std::vector<std::optional<std::string>>& params,
                               bool read_only) {
    std::vector<Oid> types(params.size(), TEXTOID);
    std::vector<Datum> values(params.size());
    std::vector<char> nulls(params.size(), ' ');
    pg_call([&] {
        for (size_t i = 0; i < params.size(); ++i) {
            if (params[i])
                values[i] =
                    PointerGetDatum(cstring_to_text_with_len(params[i]->data(), params[i]->size()));
            else
                nulls[i] = 'n';
        }
        int rc = SPI_execute_with_args(sql.c_str(), static_cast<int>(params.size()), types.data(),
                                       values.data(), nulls.data(), read_only, 0);
        if (rc < 0)
            elog(ERROR, "nomnom: SPI failed (%d) for: %s", rc, sql.c_str());
    });
    return result_rows();
}

std::vector<TextRow> result_rows() {
    // Copy the values out as palloc'd C strings first, so no C++ object is alive while
    // PostgreSQL runs output functions, then build the rows.
    uint64 row_count = 0;
    int column_count = 0;
    char** texts = nullptr;
    pg_call([&] {
        row_count = SPI_processed;
        column_count = SPI_tuptable ? SPI_tuptable->tupdesc->natts : 0;
        texts = static_cast<char**>(palloc0(sizeof(char*) * (row_count * column_count + 1)));
        for (uint64 r = 0; r < row_count; ++r)
            for (int c = 0; c < column_count; ++c)
                texts[r * column_count + c] =
                    SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c + 1);
    });
    std::vector<TextRow> rows(row_count);
    for (uint64 r = 0; r < row_count; ++r)
        for (int c = 0; c < column_count; ++c) {
            const char* text = texts[r * column_count + c];
            rows[r].push_back(text ? std::optional<std::string>(text) : std::nullopt);
        }
    return rows;
}

std::string quote_ident(const std::string& name) {
    std::string out;
    pg_call([&] { out = quote_identifier(name.c_str()); });
    return out;
}

std::string quote_ident_list(const std::vector<std::string>& names, const std::string& prefix) {
    std::string out;
    for (size_t i = 0; i < names.size(); ++i)
        out += (i ? ", " : "") + prefix + quote_ident(names[i]);
    return out;
}

TableName resolve_table_name(const std::string& table) {
    TableName name;
    pg_call([&] {
        List* names = stringToQualifiedNameList(table.c_str());
        RangeVar* range = makeRangeVarFromNameList(names);
        name.relid = RangeVarGetRelid(range, NoLock, true);
        name.sql = range->schemaname ? quote_qualified_identifier(range->schemaname, range->relname)
                                     : quote_identifier(range->relname);
    });
    return name;
}

} // namespace nomnom
