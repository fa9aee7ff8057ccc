// Counts the entity events a JetStream stream holds, with the npm nats client, as another
// service consuming nomnom's events would: an ordered consumer from the stream's first
// message to its last. Prints one JSON object:
//   {"events": N, "distinct_msg_ids": N, "distinct_rows": N, "by_entity": {"Order": N, ...},
//    "missing_headers": N, "subjects_ok": true|false}
// distinct_rows counts (entity, payload id) pairs: one event a row means events ==
// distinct_rows == the rows in the tables.
//
// usage: node count-events.js NATS_URL [STREAM=ENTITIES] [TIMEOUT_MS=20000]
"use strict";
const { connect } = require("nats");

async function main() {
    const [url, stream = "ENTITIES", timeoutArg = "20000"] = process.argv.slice(2);
    if (!url) throw new Error("usage: count-events.js NATS_URL [STREAM] [TIMEOUT_MS]");
    const timeoutMs = Number(timeoutArg);
    const nc = await connect({ servers: url, name: "nomnom-count-events" });
    try {
        const jsm = await nc.jetstreamManager();
        const info = await jsm.streams.info(stream);
        const expected = info.state.messages;
        const summary = {
            events: 0,
            distinct_msg_ids: 0,
            distinct_rows: 0,
            by_entity: {},
            missing_headers: 0,
            subjects_ok: true,
        };
        const msgIds = new Set();
        const rows = new Set();
        if (expected > 0) {
            const consumer = await nc.jetstream().consumers.get(stream); // ordered, from the start
            const messages = await consumer.consume();
            const timer = setTimeout(() => messages.stop(), timeoutMs);
            for await (const m of messages) {
                summary.events++;
                const entity = m.headers ? m.headers.get("Nomnom-Entity") : "";
                const msgId = m.headers ? m.headers.get("Nats-Msg-Id") : "";
                const messageId = m.headers ? m.headers.get("Nomnom-Message-Id") : "";
                if (!entity || !msgId || !messageId) summary.missing_headers++;
                if (m.subject !== `entities.${entity}` || !msgId.startsWith(`${messageId}:${entity}:`))
                    summary.subjects_ok = false;
                msgIds.add(msgId);
                const row = m.json();
                rows.add(`${entity}/${row.id}`);
                summary.by_entity[entity] = (summary.by_entity[entity] || 0) + 1;
                if (m.info.pending === 0) break;
            }
            clearTimeout(timer);
        }
        summary.distinct_msg_ids = msgIds.size;
        summary.distinct_rows = rows.size;
        console.log(JSON.stringify(summary));
    } finally {
        await nc.close();
    }
}

main().catch((err) => {
    console.error(`count-events: ${err.message}`);
    process.exit(1);
});
