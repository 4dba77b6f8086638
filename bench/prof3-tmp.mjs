import { createPostgresEventStore } from "@slotwise/postgres";
import { bookingEvent, createPool, createRawSchema, dropSchema, rawAppendParams, rawAppendStatement, runId } from "./dist/store-bench.js";
const id = runId();
const pool = createPool(12);
const N = Number(process.argv[2] ?? 3000), per = Number(process.argv[3] ?? 1), conc = Number(process.argv[4] ?? 1);
const store = createPostgresEventStore({ pool, schema: `p3_ours_${id}`, notify: true });
await store.version("x");
await createRawSchema(pool, `p3_raw_${id}`);
await createRawSchema(pool, `p3_ex_${id}`);
await pool.query(`CREATE INDEX ON "p3_raw_${id}".events (stream_id)`).catch(()=>{}); // no-op variant guard
await pool.query(`DROP INDEX "p3_raw_${id}".events_stream_id_idx`).catch(()=>{});
const exists = (n) => rawAppendStatement(`p3_ex_${id}`, n).replace("VALUES", "SELECT * FROM (VALUES").concat(`) AS r WHERE $2::int = 1 OR EXISTS (SELECT 1 FROM "p3_ex_${id}".events WHERE stream_id = $1 AND stream_version = $2::int - 1)`);
const variants = ["ours", "exists", "raw"];
const fns = {
  ours: (s, v, b) => store.append(s, b, { expectedVersion: v === 0 ? "no-stream" : v }),
  exists: (s, v, b) => pool.query({ name: "ex" + b.length + id, text: exists(b.length), values: rawAppendParams(s, v, b) }),
  raw: (s, v, b) => pool.query({ name: "raw" + b.length + id, text: rawAppendStatement(`p3_raw_${id}`, b.length), values: rawAppendParams(s, v, b) }),
};
const vers = Object.fromEntries(variants.map((v) => [v, new Map()]));
const ev = Array.from({ length: N }, (_, i) => bookingEvent(i, "s"));
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
const chunk = 250 * per * conc;
for (let from = 0, r = 0; from < N; from += chunk, r++) {
  const order = [...variants]; for (let k = 0; k < r % variants.length; k++) order.push(order.shift());
  for (const n of order) ms[n] += await run(n, from, Math.min(N, from + chunk));
}
for (const n of variants) console.log(n.padEnd(10), Math.round(N * 1000 / ms[n]), "/s");
const c = await pool.query(`select count(*) from "p3_ex_${id}".events`); console.log("exists rows", c.rows[0].count);
await store.close();
for (const v of ["ours", "raw", "ex"]) await dropSchema(pool, `p3_${v}_${id}`);
await pool.end();
