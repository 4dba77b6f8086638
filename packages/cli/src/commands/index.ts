import type { Command } from "commander";
import { registerDemo } from "./demo.js";
import { registerStreams } from "./streams.js";

/** One file per command; each adds itself here. */
export function registerCommands(program: Command): void {
  registerDemo(program);
  registerStreams(program);
}
