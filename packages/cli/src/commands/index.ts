import type { Command } from "commander";
import { registerDemo } from "./demo.js";
import { registerDlq } from "./dlq.js";
import { registerStreams } from "./streams.js";

/** One file per command; each adds itself here. */
export function registerCommands(program: Command): void {
  registerDemo(program);
  registerDlq(program);
  registerStreams(program);
}
