// nomnom-map-bench: times the entity mapper (parse + map, what the worker's mapping threads
// do for each message) on one thread, with no PostgreSQL and no NATS.
//
//   nomnom-map-bench [--docs FILE.ndjson] [--rounds R] [--reuse N [--memory]] [--dump]
//
// Documents: one a line, e.g. the bench's orders (bench/lib.sh `generate ... ndjson`, or
// `nomnom-publish --dry-run --copy-dir DIR` then bench/to_ndjson.awk); without --docs, the
// example order of test/fixtures replicated 100,000 times. Entities: the TPC-H Order and
// OrderLineItem of test/fixtures/tpch. Prints the best and the median µs per document over
// the rounds. --dump prints every document's rows (or error) instead, one line each, to
// compare two builds' output with diff. --reuse N maps document i into the (i mod N)th of N
// MappedDocuments kept from round to round, as the worker's prefetch thread maps a batch into
// the written batch's (N = 2,000: two batches of 1,000); without it, into a new one each.
// --memory then also prints what those N documents keep once all are mapped (glibc's
// mallinfo2: bytes in use since before the first, bytes free in its arenas, and the texts'
// buffers), to see what a prefetch thread's batches hold apart from PostgreSQL and nats.c
// (bench/README.md, item 33).
//
// Uses only the mapper's public API (mapper.hpp, json_arena.hpp), so that it builds against
// older versions of the core too (back to item 29's MappedDocument::text, which --memory reads).
#include "nomnom/entity_spec.hpp"
#include "nomnom/json_arena.hpp"
#include "nomnom/mapper.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <malloc.h>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "nomnom-map-bench: cannot read %s\n", path.c_str());
        std::exit(1);
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void dump(const nomnom::MappedDocument& doc) {
    for (const nomnom::MappedRow& row : doc.rows) {
        std::printf(" [%d<%d %s", row.entity, row.parent_row, row.origin.c_str());
        for (const auto& value : row.values)
            std::printf(value ? " '%s'" : " NULL", value ? std::string(*value).c_str() : "");
        for (int field : row.parent_id_fields)
            std::printf(" id>%d", field);
        std::printf("]");
    }
}

} // namespace

int main(int argc, char** argv) {
    std::string docs_path;
    int rounds = 5;
    bool dump_rows = false;
    size_t reuse = 0;
    bool memory = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--docs" && i + 1 < argc) {
            docs_path = argv[++i];
        } else if (arg == "--rounds" && i + 1 < argc) {
            rounds = std::max(1, std::atoi(argv[++i]));
        } else if (arg == "--reuse" && i + 1 < argc) {
            reuse = static_cast<size_t>(std::max(1, std::atoi(argv[++i])));
        } else if (arg == "--memory") {
            memory = true;
        } else if (arg == "--dump") {
            dump_rows = true;
        } else {
            std::fprintf(stderr,
                         "usage: nomnom-map-bench [--docs FILE.ndjson] [--rounds R] [--reuse N "
                         "[--memory]] [--dump]\n");
            return 2;
        }
    }

    const std::string fixtures = std::string(NOMNOM_SOURCE_DIR) + "/test/fixtures/";
    std::vector<std::string> docs;
    if (docs_path.empty()) {
        docs.assign(100000, read_file(fixtures + "test_order_with_lineitems.json"));
    } else {
        std::istringstream lines(read_file(docs_path));
        for (std::string line; std::getline(lines, line);)
            if (!line.empty())
                docs.push_back(line);
    }
    if (docs.empty()) {
        std::fprintf(stderr, "nomnom-map-bench: no documents\n");
        return 1;
    }

    std::vector<nomnom::EntitySpec> specs = {
        nomnom::parse_entity_spec(read_file(fixtures + "tpch/order.json")),
        nomnom::parse_entity_spec(read_file(fixtures + "tpch/orderlineitem.json"))};
    nomnom::EntityTree tree = nomnom::EntityTree::build(specs, "Order");
    nomnom::use_json_arena(); // as the extension does (module.cpp)
    nomnom::MessageMeta meta;
    nomnom::MappedDocument out;
    nomnom::MappingError error;

    if (dump_rows) {
        for (size_t i = 0; i < docs.size(); ++i) {
            bool ok = nomnom::map_document(tree, docs[i], meta, out, error);
            std::printf("%zu", i);
            if (ok)
                dump(out);
            else
                std::printf(" ERROR %s %s", error.sqlstate, error.message.c_str());
            std::printf("\n");
        }
        return 0;
    }

    size_t bytes = 0, rows = 0, failed = 0;
    for (const std::string& doc : docs)
        bytes += doc.size();
    std::vector<double> per_doc;
    const size_t in_use_before = mallinfo2().uordblks;
    std::vector<nomnom::MappedDocument> ring(reuse);
    for (int round = 0; round < rounds; ++round) {
        auto start = std::chrono::steady_clock::now();
        for (size_t i = 0; i < docs.size(); ++i) {
            nomnom::MappedDocument fresh;
            nomnom::MappedDocument& mapped = reuse ? ring[i % reuse] : fresh;
            if (nomnom::map_document(tree, docs[i], meta, mapped, error))
                rows += mapped.rows.size();
            else
                ++failed;
        }
        std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - start;
        per_doc.push_back(took.count() / static_cast<double>(docs.size()));
    }
    std::vector<double> sorted = per_doc;
    std::sort(sorted.begin(), sorted.end());
    std::printf("docs=%zu avg_bytes=%zu rows_per_doc=%.2f failed=%zu rounds=%d "
                "best_us_per_doc=%.3f median_us_per_doc=%.3f\n",
                docs.size(), bytes / docs.size(),
                static_cast<double>(rows) / static_cast<double>(docs.size()) / rounds,
                failed / static_cast<size_t>(rounds), rounds, sorted.front(),
                sorted[sorted.size() / 2]);
    if (memory && reuse) {
        struct mallinfo2 now = mallinfo2();
        size_t text = 0;
        for (const nomnom::MappedDocument& doc : ring)
            text += doc.text.capacity();
        std::printf("kept_by_%zu_documents: in_use_mib=%.2f free_in_arenas_mib=%.2f "
                    "text_buffers_mib=%.2f\n",
                    reuse, static_cast<double>(now.uordblks - in_use_before) / 1048576.0,
                    static_cast<double>(now.fordblks) / 1048576.0,
                    static_cast<double>(text) / 1048576.0);
    }
    return 0;
}
