import type { Command } from "commander";

/** Where the real servers are: flags win over the environment; absent both, the command runs embedded. */
export interface ConnectionOptions {
  nats?: string;
  postgres?: string;
  env: string;
}

export function addConnectionOptions(cmd: Command, { embeddedDefault = false } = {}): Command {
  return cmd
    .option(
      "--nats <url>",
      embeddedDefault ? "NATS server (default: $NATS_URL, else the in-process transport)" : "NATS server",
      process.env.NATS_URL ?? (embeddedDefault ? undefined : "nats://127.0.0.1:4222"),
    )
    .option(
      "--postgres <url>",
      embeddedDefault
        ? "PostgreSQL (default: $DATABASE_URL, else embedded PGlite)"
        : "PostgreSQL connection URL",
      process.env.DATABASE_URL ?? (embeddedDefault ? undefined : "postgres://postgres@127.0.0.1:5432/test"),
    )
    .option("--env <name>", "environment prefix of subjects and streams", process.env.SLOTWISE_ENV ?? "dev");
}
