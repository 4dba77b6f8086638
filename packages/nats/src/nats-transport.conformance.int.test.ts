import { runTransportConformance } from "@slotwise/events/testing";
import { createNatsTransport } from "./index.js";

const servers = process.env.NATS_URL ?? "nats://127.0.0.1:4222";

// Each connect() is a connection of its own, as separate service instances would have.
runTransportConformance("nats", {
  connect: () => createNatsTransport({ servers, name: "slotwise-conformance" }),
});
