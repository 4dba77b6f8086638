import { runBadInputMatrix } from "../testing/bad-input.js";
import { createMemoryBroker } from "../transport/memory/index.js";

const broker = createMemoryBroker();

runBadInputMatrix("memory", {
  connect: async () => broker.connect(),
  cleanup: () => broker.close(),
});
