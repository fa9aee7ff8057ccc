#include "prefetch.hpp"

#include "signal_safe_thread.hpp"

namespace nomnom {

Prefetcher::~Prefetcher() {
    if (thread_.joinable())
        thread_.join();
}

void Prefetcher::start(natsSubscription* sub, int batch_size, int wait_ms,
                       const StreamOptions& options, TreeSnapshot trees) {
    sub_ = sub;
    batch_size_ = batch_size;
    wait_ms_ = wait_ms;
    options_ = options;
    trees_ = std::move(trees);
    list_ = natsMsgList{nullptr, 0};
    status_ = NATS_OK;
    premapped_.clear();
    thread_ = start_signal_safe_thread([this] { run(); });
}

natsStatus Prefetcher::finish(natsMsgList* list, std::vector<PremappedMessage>& premapped) {
    thread_.join();
    *list = list_;
    list_ = natsMsgList{nullptr, 0};
    premapped = std::move(premapped_);
    premapped_.clear();
    // A mapping that failed to allocate is simply not there: the writer maps again.
    premapped.resize(static_cast<size_t>(list->Count));
    return status_;
}

void Prefetcher::run() noexcept {
    status_ = natsSubscription_Fetch(&list_, sub_, batch_size_, wait_ms_, nullptr);
    try {
        premapped_.resize(static_cast<size_t>(list_.Count));
        if (trees_.empty())
            return;
        for (int i = 0; i < list_.Count; ++i) {
            natsMsg* msg = list_.Msgs[i];
            const char* entity_header = nullptr;
            natsMsgHeader_Get(msg, "Nomnom-Entity", &entity_header);
            const char* subject = natsMsg_GetSubject(msg);
            auto found = trees_.find(route_entity(options_, subject ? subject : "",
                                                  entity_header ? entity_header : ""));
            if (found == trees_.end() || found->second->uses_metadata)
                continue;
            const char* body = natsMsg_GetData(msg);
            PremappedMessage& ahead = premapped_[static_cast<size_t>(i)];
            ahead.ok = map_document(found->second->tree,
                                    std::string_view(body ? body : "",
                                                     static_cast<size_t>(natsMsg_GetDataLength(msg))),
                                    MessageMeta{}, ahead.doc, ahead.error);
            ahead.mapped_with = found->second;
        }
    } catch (...) {
        // Out of memory: what is not mapped yet is mapped by the writer.
    }
}

TreeSnapshot written_trees(const std::vector<PremappedMessage>& batch) {
    TreeSnapshot trees;
    for (const PremappedMessage& message : batch)
        if (message.written_tree != nullptr)
            trees.emplace(message.written_entity, message.written_tree);
    return trees;
}

} // namespace nomnom
