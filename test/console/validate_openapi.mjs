// Validates the bridge's GET /openapi.json with @apidevtools/swagger-parser (the OpenAPI 3
// schema, then every $ref), and checks that it names every endpoint the bridge routes.
// usage: node validate_openapi.mjs URL  (exit 0 when valid)
import SwaggerParser from '@apidevtools/swagger-parser';

const url = process.argv[2];
const res = await fetch(url);
if (res.status !== 200) {
  console.error(`GET ${url}: HTTP ${res.status}`);
  process.exit(1);
}
const doc = await res.json();
try {
  const api = await SwaggerParser.validate(structuredClone(doc));
  console.log(`valid OpenAPI ${api.openapi}: ${api.info.title} ${api.info.version}, ${Object.keys(api.paths).length} paths`);
} catch (e) {
  console.error(`invalid: ${e.message}`);
  process.exit(1);
}
const wanted = ['/ingest/message', '/ingest/message/{entity}', '/ingest/batch', '/ingest/batch/{entity}',
  '/ingest/status/{message_id}', '/ready', '/health', '/metrics', '/', '/api/overview',
  '/api/messages/{message_id}', '/api/dead-letters/replay', '/stats', '/openapi.json'];
const missing = wanted.filter((p) => !(p in doc.paths));
if (missing.length) {
  console.error(`endpoints missing from the document: ${missing.join(', ')}`);
  process.exit(1);
}
