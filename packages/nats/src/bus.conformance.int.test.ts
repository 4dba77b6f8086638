import { runBusConformance } from "@slotwise/events/testing";
import { createNatsTransport } from "./index.js";

const servers = process.env.NATS_URL ?? "nats://127.0.0.1:4222";

runBusConformance("nats", {
  connect: () => createNatsTransport({ servers, name: "slotwise-bus-conformance" }),
});
