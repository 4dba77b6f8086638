import { createNatsTransport } from "/work/main/packages/nats/dist/index.js";
const t = await createNatsTransport({ connectOptions: { noAsyncTraces: true } });
console.log(t.connection.options.noAsyncTraces, t.connection.protocol.options.noAsyncTraces);
let n = 0; const E = (await import("@nats-io/transport-node")).errors.RequestError;
await t.close();
