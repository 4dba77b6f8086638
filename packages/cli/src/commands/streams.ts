import { advisoryStreamConfig, provisionStreams, streamsForEnvironments } from "@slotwise/events";
import { createNatsTransport } from "@slotwise/nats";
import { type Command, Option } from "commander";
import { addConnectionOptions, type ConnectionOptions } from "../connection.js";

interface ApplyOptions extends ConnectionOptions {
  domains: string;
  replicas: string;
  duplicateWindow: string;
  json?: boolean;
}

export function registerStreams(program: Command): void {
  const streams = program.command("streams").description("JetStream streams: one per environment and domain");
  addConnectionOptions(
    streams
      .command("apply")
      .description("create or update the streams {ENV}_{DOMAIN}, {ENV}_DLQ and SLOTWISE_ADVISORIES")
      .option("--domains <list>", "comma-separated domains", "auth,business,booking,payment,notification")
      .option("--replicas <n>", "replicas per stream (3 on a cluster)", "1")
      .option("--duplicate-window <ms>", "JetStream duplicate window in milliseconds", "120000")
      .addOption(new Option("--json", "print the applied streams as JSON")),
  ).action(async (opts: ApplyOptions) => {
    const transport = await createNatsTransport({ servers: opts.nats ?? "nats://127.0.0.1:4222" });
    try {
      const configs = streamsForEnvironments({
        environments: [opts.env],
        domains: opts.domains
          .split(",")
          .map((d) => d.trim())
          .filter(Boolean),
        replicas: Number(opts.replicas),
        duplicateWindowMs: Number(opts.duplicateWindow),
      });
      // The max-deliveries advisories, shared by every environment: the dead-letter sweeper reads them.
      configs.push(advisoryStreamConfig({ replicas: Number(opts.replicas) }));
      const applied = await provisionStreams(transport, configs);
      if (opts.json) process.stdout.write(`${JSON.stringify(applied)}\n`);
      else
        for (const s of applied)
          process.stdout.write(`${s.name.padEnd(24)} ${s.subjects.join(",")}  replicas=${s.replicas}\n`);
    } finally {
      await transport.close();
    }
  });
}
