// Documents given to nomnom.ingest wait here, mapped and converted, and are written
// set-wise when the statement that ingested them finishes (or every kFlushAt documents, or
// before commit). A statement that ingests 10,000 documents then costs a few statements per
// thousand documents instead of three per document. Bad input still raises its ERROR at
// the call; the rows are visible to the next statement of the transaction.
#pragma once

#include "writer/message_writer.hpp"

namespace nomnom {

// Maps and converts `message` now (a DataError for bad input), then queues it. C++-style.
void ingest_enqueue(const MessageToWrite& message);

// Writes what is queued (SPI connected or not). C++-style.
void ingest_flush();

// Installs the executor hook and transaction callbacks that flush and discard the queue.
// Called from _PG_init.
void ingest_buffer_init();

} // namespace nomnom
