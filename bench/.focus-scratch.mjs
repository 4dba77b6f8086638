// Scratch: profile only our consume runs (inspector around them). SIDE=ours|raw
import { randomUUID } from "node:crypto";
import inspector from "node:inspector/promises";
import fs from "node:fs";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers } from "@nats-io/transport-node";
import { createEvent, createEventBus, createEventRegistry, defineEvent, encodeEvent, DEFAULT_RETRY } from "@slotwise/events";
import { createNatsTransport } from "@slotwise/nats";
import { z } from "zod";
const N = Number(process.env.N ?? 100000);
const ENV = `prof${randomUUID().slice(0, 6)}`, STREAM = `${ENV.toUpperCase()}_BOOKING`, TYPE = "booking.appointment.confirmed.v1", SUBJ = `${ENV}.${TYPE}`;
const Def = defineEvent({ type: TYPE, schema: z.object({ bookingId: z.string().min(1), businessId: z.string().min(1), customerId: z.string().min(1), serviceId: z.string().min(1), staffId: z.string().min(1), startsAt: z.iso.datetime(), endsAt: z.iso.datetime(), price: z.object({ amount: z.number().int().nonnegative(), currency: z.string().length(3) }), channel: z.enum(["web", "mobile", "phone"]) }) });
const nc = await connect({ name: "prof" }); const js = jetstream(nc); const jsm = await jetstreamManager(nc);
const admin = await createNatsTransport({ name: "prof-admin" });
await jsm.streams.add({ name: STREAM, subjects: [`${ENV}.booking.>`] });
{
  let next = 0, done = 0;
  await new Promise((res, rej) => { const send = () => { const i = next++; const id = randomUUID(); const bk = `bk_${randomUUID()}`;
    const e = createEvent({ id, type: TYPE, source: "booking-service", subject: bk, correlationid: randomUUID(), data: { bookingId: bk, businessId: "biz_0001", customerId: "cus_00012345", serviceId: "haircut-45", staffId: "stf_001", startsAt: new Date().toISOString(), endsAt: new Date().toISOString(), price: { amount: 4500, currency: "EUR" }, channel: "web" }, metadata: { tenant: "acme" } });
    const h = headers(); h.set("Content-Type", "application/cloudevents+json");
    js.publish(SUBJ, encodeEvent(e), { msgID: id, headers: h }).then(() => { if (++done === N) res(); else if (next < N) send(); }, rej); };
    for (let k = 0; k < 256; k++) send(); });
}
console.error("published");
let run = 0;
async function durable(d) { await admin.ensureConsumer({ stream: STREAM, durable: d, filterSubjects: [SUBJ], ackWaitMs: 30000, maxDeliver: DEFAULT_RETRY.attempts, maxAckPending: 256, deliverPolicy: "all" }); }
async function ours() {
  const name = `o${++run}`; await durable(`bench-${name}`);
  const t = await createNatsTransport({ name });
  const bus = createEventBus({ transport: t, service: "bench", env: ENV, registry: createEventRegistry().register(Def), provision: false });
  let c = 0, done; const fin = new Promise(r => done = r);
  bus.handle({ name, types: [Def], maxInFlight: 256, handler: () => { if (++c === N) done(); } });
  const s = performance.now(); await bus.start(); await fin; const eps = N * 1000 / (performance.now() - s); await bus.close(); return eps;
}
async function raw() {
  const name = `r${++run}`; await durable(name);
  const c0 = await js.consumers.get(STREAM, name); let c = 0, done; const fin = new Promise(r => done = r);
  const s = performance.now(); const ms = await c0.consume({ max_messages: 256, callback: (m) => { m.ack(); if (++c === N) done(); } });
  await fin; const eps = N * 1000 / (performance.now() - s); await ms.close(); return eps;
}
const side = process.env.SIDE ?? "ours"; const f = side === "raw" ? raw : ours;
for (let i = 0; i < 2; i++) console.error("warm", side, Math.round(await f()), "raw", Math.round(await raw()));
const session = new inspector.Session(); session.connect();
await session.post("Profiler.enable"); await session.post("Profiler.setSamplingInterval", { interval: 200 }); await session.post("Profiler.start");
const r1 = await f(); 
const { profile } = await session.post("Profiler.stop");
fs.writeFileSync(`/tmp/cprof/focus-${side}.cpuprofile`, JSON.stringify(profile));
console.error("profiled", side, Math.round(r1), "raw", Math.round(await raw()), "ours", Math.round(await ours()));
await admin.deleteStream(STREAM); await admin.close(); await nc.close();
