import { createEvent, encodeEvent, decodeEvent, parseEventBytes, toCloudEvent, createEventRegistry, defineEvent, createMemoryDedupeStore } from "@slotwise/events";
import { isUtf8 } from "node:buffer";
import { randomUUID } from "node:crypto";
import { z } from "zod";
const TYPE = "booking.appointment.confirmed.v1";
const Def = defineEvent({ type: TYPE, schema: z.object({ bookingId: z.string().min(1), businessId: z.string().min(1), customerId: z.string().min(1), serviceId: z.string().min(1), staffId: z.string().min(1), startsAt: z.iso.datetime(), endsAt: z.iso.datetime(), price: z.object({ amount: z.number().int().nonnegative(), currency: z.string().length(3) }), channel: z.enum(["web", "mobile", "phone"]) }) });
const reg = createEventRegistry().register(Def);
const N = 20000;
const bytes = Array.from({ length: N }, () => { const bk = `bk_${randomUUID()}`; return Buffer.from(encodeEvent(createEvent({ type: TYPE, source: "booking-service", subject: bk, correlationid: randomUUID(), data: { bookingId: bk, businessId: "biz_0001", customerId: "cus_00012345", serviceId: "haircut-45", staffId: "stf_001", startsAt: new Date().toISOString(), endsAt: new Date().toISOString(), price: { amount: 4500, currency: "EUR" }, channel: "web" }, metadata: { tenant: "acme" } }))); });
const td = new TextDecoder("utf-8", { fatal: true });
function bench(name, fn) { let x; for (let r = 0; r < 3; r++) { const s = process.hrtime.bigint(); for (let i = 0; i < N; i++) x = fn(bytes[i], i); const ns = Number(process.hrtime.bigint() - s) / N; if (r === 2) console.log(name.padEnd(28), ns.toFixed(0), "ns"); } return x; }
bench("TextDecoder fatal", (b) => td.decode(b));
bench("isUtf8+toString", (b) => isUtf8(b) ? b.toString("utf8") : "");
bench("toString", (b) => b.toString("utf8"));
bench("latin1/ascii check", (b) => b.toString("latin1"));
function depth(bytes, limit) { let d = 0, s = false; for (let i = 0; i < bytes.length; i++) { const c = bytes[i]; if (s) { if (c === 0x5c) i++; else if (c === 0x22) s = false; } else if (c === 0x22) s = true; else if (c === 0x7b || c === 0x5b) { if (++d > limit) return true; } else if (c === 0x7d || c === 0x5d) d--; } return false; }
bench("depth scan", (b) => depth(b, 64));
function openers(b, limit) { let n = 0; let i = -1; while ((i = b.indexOf(0x7b, i + 1)) !== -1) if (++n > limit) return n; i = -1; while ((i = b.indexOf(0x5b, i + 1)) !== -1) if (++n > limit) return n; return n; }
bench("indexOf openers", (b) => openers(b, 64));
const texts = bytes.map((b) => b.toString());
bench("JSON.parse", (b, i) => JSON.parse(texts[i]));
const objs = texts.map((t) => JSON.parse(t));
bench("toCloudEvent", (b, i) => toCloudEvent(JSON.parse(texts[i])));
bench("parseEventBytes", (b) => parseEventBytes(b));
bench("decodeEvent", (b) => decodeEvent(b));
const evs = bytes.map((b) => decodeEvent(b));
bench("registry.validate", (b, i) => reg.validate(evs[i]));
bench("schema.safeParse", (b, i) => Def.schema.safeParse(evs[i].data));
const d = createMemoryDedupeStore();
bench("dedupe seen+remember", (b, i) => { d.seen("bench-x", evs[i].id); d.remember("bench-x", evs[i].id); });
bench("Date.now", () => Date.now());
bench("performance.now", () => performance.now());
