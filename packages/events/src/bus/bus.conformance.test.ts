import { runBusConformance } from "../testing/bus-conformance.js";
import { createMemoryBroker } from "../transport/memory/index.js";

const broker = createMemoryBroker();

runBusConformance("memory", {
  connect: async () => broker.connect(),
  cleanup: () => broker.close(),
});
