import { Command } from "commander";
import { registerCommands } from "./commands/index.js";

export async function run(argv: string[]): Promise<void> {
  const program = new Command()
    .name("slotwise")
    .description("SlotWise Events: CloudEvents over NATS JetStream, event sourcing on PostgreSQL.")
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: true });
  registerCommands(program);
  await program.parseAsync(argv);
}
