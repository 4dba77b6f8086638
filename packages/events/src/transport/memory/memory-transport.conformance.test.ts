import { runTransportConformance } from "../../testing/transport-conformance.js";
import { createMemoryBroker } from "./index.js";

const broker = createMemoryBroker();

runTransportConformance("memory", {
  connect: async () => broker.connect(),
  cleanup: () => broker.close(),
});
