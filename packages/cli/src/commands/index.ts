import type { Command } from "commander";
import { registerStreams } from "./streams.js";

/** One file per command; each adds itself here. */
export function registerCommands(program: Command): void {
  registerStreams(program);
}
