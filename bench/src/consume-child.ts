/**
 * The memory-check consumer of `npm run bench -- consume`, forked by the bench with its config as the
 * one argument; it reports over the IPC channel (see `runMemoryConsumer`).
 */
import { type MemoryConsumerConfig, runMemoryConsumer } from "./consume.js";

runMemoryConsumer(JSON.parse(process.argv[2] ?? "{}") as MemoryConsumerConfig).catch((err: unknown) => {
  process.stderr.write(
    `memory consumer failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
