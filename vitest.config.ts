import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Tests import every workspace package from its TypeScript source, so one module instance is shared
// (AsyncLocalStorage, registries) and no build is needed to run a single test file.
const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@slotwise\/events\/testing$/, replacement: src("./packages/events/src/testing/index.ts") },
      { find: /^@slotwise\/events$/, replacement: src("./packages/events/src/index.ts") },
      { find: /^@slotwise\/nats$/, replacement: src("./packages/nats/src/index.ts") },
      { find: /^@slotwise\/postgres$/, replacement: src("./packages/postgres/src/index.ts") },
      { find: /^@slotwise\/booking$/, replacement: src("./examples/booking/src/index.ts") },
    ],
  },
  test: {
    include: ["packages/*/src/**/*.test.ts", "examples/*/src/**/*.test.ts", "bench/src/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    reporters: ["default"],
  },
});
