import { RESERVED_ATTRIBUTES } from "@slotwise/events";
const RFC3339 = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;
const VERSION = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/;
const N = 200000; const times = Array.from({length: 1000}, (_, i) => new Date(Date.now() + i * 1000).toISOString());
function bench(name, fn) { let x; for (let r = 0; r < 3; r++) { const s = process.hrtime.bigint(); for (let i = 0; i < N; i++) x = fn(i); const ns = Number(process.hrtime.bigint() - s) / N; if (r === 2) console.log(name.padEnd(28), ns.toFixed(0), "ns"); } return x; }
bench("rfc3339", (i) => RFC3339.test(times[i % 1000]));
bench("version exec", (i) => VERSION.exec("1.0"));
const o = JSON.parse('{"id":"a","source":"b","specversion":"1.0","type":"x","subject":"s","time":"t","datacontenttype":"c","data":{},"correlationid":"c","version":"1.0","tenant":"acme"}');
const objs = Array.from({length:1000}, () => JSON.parse(JSON.stringify(o)));
bench("forin", (i) => { let m; const obj = objs[i % 1000]; for (const k in obj) { if (RESERVED_ATTRIBUTES.has(k)) continue; (m ??= {})[k] = obj[k]; } return m; });
