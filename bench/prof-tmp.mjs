import { createPostgresEventStore } from "@slotwise/postgres";
import { bookingEvent, createPool, createRawSchema, dropSchema, rawAppendParams, rawAppendStatement, runId } from "./dist/store-bench.js";
const id = runId();
const pool = createPool(10);
const N = Number(process.argv[2] ?? 4000);
const conc = Number(process.argv[3] ?? 1);
const per = Number(process.argv[4] ?? 1);
const sides = {};
const mk = (notify) => createPostgresEventStore({ connectionString: "postgres://postgres@127.0.0.1:5432/test", schema: `prof_${notify ? "n" : "x"}_${id}`, notify, poolSize: 10 });
const sOn = mk(true), sOff = mk(false);
await sOn.version("x"); await sOff.version("x");
await createRawSchema(pool, `prof_raw_${id}`);
const ev = Array.from({ length: N }, (_, i) => bookingEvent(i, "s"));
const vers = { on: new Map(), off: new Map(), raw: new Map() };
async function run(name, fn, from, to) {
  const t = performance.now();
  await Promise.all(Array.from({ length: conc }, async (_, w) => {
    for (let i = from + w * per; i < to; i += conc * per) {
      const stream = `w${w}-${(i / per | 0) % 50}`;
      const v = vers[name].get(stream) ?? 0;
      const batch = ev.slice(i, i + per);
      await fn(stream, v, batch);
      vers[name].set(stream, v + batch.length);
    }
  }));
  return performance.now() - t;
}
const fns = {
  on: (s, v, b) => sOn.append(s, b, { expectedVersion: v === 0 ? "no-stream" : v }),
  off: (s, v, b) => sOff.append(s, b, { expectedVersion: v === 0 ? "no-stream" : v }),
  raw: (s, v, b) => pool.query({ name: "r" + b.length, text: rawAppendStatement(`prof_raw_${id}`, b.length), values: rawAppendParams(s, v, b) }),
};
const ms = { on: 0, off: 0, raw: 0 };
const chunk = 500 * per;
for (let from = 0, r = 0; from < N; from += chunk, r++) {
  const order = ["on", "off", "raw"]; for (let k = 0; k < r % 3; k++) order.push(order.shift());
  for (const n of order) ms[n] += await run(n, fns[n], from, Math.min(N, from + chunk));
}
for (const n of Object.keys(ms)) console.log(n, Math.round(N * 1000 / ms[n]), "/s");
await sOn.close(); await sOff.close();
for (const s of [`prof_n_${id}`, `prof_x_${id}`, `prof_raw_${id}`]) await dropSchema(pool, s);
await pool.end();
