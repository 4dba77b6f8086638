import { toCloudEvent, createEvent, encodeEvent } from "@slotwise/events";
import { randomUUID } from "node:crypto";
const N = 20000; const TYPE = "booking.appointment.confirmed.v1";
const texts = Array.from({ length: N }, () => { const bk = `bk_${randomUUID()}`; return Buffer.from(encodeEvent(createEvent({ type: TYPE, source: "booking-service", subject: bk, correlationid: randomUUID(), data: { bookingId: bk, businessId: "biz_0001", customerId: "cus_00012345", serviceId: "haircut-45", staffId: "stf_001", startsAt: new Date().toISOString(), endsAt: new Date().toISOString(), price: { amount: 4500, currency: "EUR" }, channel: "web" }, metadata: { tenant: "acme" } }))).toString(); });
const objs = texts.map(t => JSON.parse(t));
function bench(name, fn) { let x; for (let r = 0; r < 5; r++) { const s = process.hrtime.bigint(); for (let i = 0; i < N; i++) x = fn(i); const ns = Number(process.hrtime.bigint() - s) / N; if (r === 4) console.log(name.padEnd(28), ns.toFixed(0), "ns"); } return x; }
bench("JSON.parse", (i) => JSON.parse(texts[i]));
bench("toCloudEvent(pre-parsed)", (i) => toCloudEvent(objs[i]));
bench("parse+toCloudEvent", (i) => toCloudEvent(JSON.parse(texts[i])));
