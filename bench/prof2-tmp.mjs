import { buildStatements } from "../packages/postgres/dist/store/schema.js";
import { migrate } from "../packages/postgres/dist/store/migrate.js";
import { createPgSqlClient } from "@slotwise/postgres";
import { bookingEvent, createPool, dropSchema, rawAppendParams, rawAppendStatement, runId } from "./dist/store-bench.js";
const id = runId();
const pool = createPool(10);
const N = Number(process.argv[2] ?? 3000);
const per = Number(process.argv[3] ?? 1);
const conc = Number(process.argv[4] ?? 1);
const variants = ["cte", "nostreams", "exists_json", "exists_values", "raw"];
const client = createPgSqlClient({ pool, ownsPool: false, onError: () => {} });
for (const v of variants) await migrate(client, `p2_${v}_${id}`);
function encodeBatch(events) {
  return JSON.stringify(events.map(({ id, type, version, data, metadata, specversion, ...env }) => ({ i: id, t: type, v: version, d: data, m: { ...env, ...metadata } })));
}
const stm = {};
for (const v of variants) {
  const s = `"p2_${v}_${id}"`;
  const st = buildStatements(`p2_${v}_${id}`);
  stm[v] = st;
  if (v === "nostreams") stm[v].text = `WITH appended AS (
  INSERT INTO ${s}.events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
  SELECT $1, $2 + e.ord, e.x->>'i', e.x->>'t', e.x->>'v', e.x->'d', e.x->'m'
  FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS e(x, ord)
  RETURNING position, stream_version)
SELECT min(position)::text AS first_position, max(position)::text AS last_position, max(stream_version) AS next_version FROM appended`;
  if (v === "exists_json") stm[v].text = `WITH appended AS (
  INSERT INTO ${s}.events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
  SELECT $1, $2 + e.ord, e.x->>'i', e.x->>'t', e.x->>'v', e.x->'d', e.x->'m'
  FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS e(x, ord)
  WHERE $2 = 0 OR EXISTS (SELECT 1 FROM ${s}.events WHERE stream_id = $1 AND stream_version = $2)
  RETURNING position, stream_version)
SELECT min(position)::text AS first_position, max(position)::text AS last_position, max(stream_version) AS next_version FROM appended`;
}
const vers = Object.fromEntries(variants.map((v) => [v, new Map()]));
const ev = Array.from({ length: N }, (_, i) => bookingEvent(i, "s"));
const fns = {
  cte: (s, v, b) => v === 0 ? pool.query({ name: "a_new" + id, text: stm.cte.appendNew.text, values: [s, b.length, encodeBatch(b)] })
                            : pool.query({ name: "a_exp" + id, text: stm.cte.appendExpected.text, values: [s, v, b.length, encodeBatch(b)] }),
  nostreams: (s, v, b) => pool.query({ name: "ns" + id, text: stm.nostreams.text, values: [s, v, encodeBatch(b)] }),
  exists_json: (s, v, b) => pool.query({ name: "ej" + id, text: stm.exists_json.text, values: [s, v, encodeBatch(b)] }),
  exists_values: (s, v, b) => pool.query({ name: "ev" + b.length + id, text: rawAppendStatement(`p2_exists_values_${id}`, b.length).replace("VALUES", "SELECT * FROM (VALUES").concat(`) AS r WHERE $2::int - 1 = 0 OR EXISTS (SELECT 1 FROM "p2_exists_values_${id}".events WHERE stream_id = $1 AND stream_version = $2::int - 1)`), values: rawAppendParams(s, v, b) }),
  raw: (s, v, b) => pool.query({ name: "raw" + b.length + id, text: rawAppendStatement(`p2_raw_${id}`, b.length), values: rawAppendParams(s, v, b) }),
};
const ms = Object.fromEntries(variants.map((v) => [v, 0]));
async function run(name, from, to) {
  const t = performance.now();
  await Promise.all(Array.from({ length: conc }, async (_, w) => {
    for (let i = from + w * per; i < to; i += conc * per) {
      const stream = `w${w}-${(i / per | 0) % 50}`;
      const v = vers[name].get(stream) ?? 0;
      const batch = ev.slice(i, i + per);
      await fns[name](stream, v, batch);
      vers[name].set(stream, v + batch.length);
    }
  }));
  return performance.now() - t;
}
const chunk = 300 * per * conc;
for (let from = 0, r = 0; from < N; from += chunk, r++) {
  const order = [...variants]; for (let k = 0; k < r % variants.length; k++) order.push(order.shift());
  for (const n of order) ms[n] += await run(n, from, Math.min(N, from + chunk));
}
for (const n of variants) console.log(n.padEnd(14), Math.round(N * 1000 / ms[n]), "/s");
for (const v of variants) await dropSchema(pool, `p2_${v}_${id}`);
await pool.end();
