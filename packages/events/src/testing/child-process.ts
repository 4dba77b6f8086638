/**
 * A process of a test's own (a consumer or relay to kill with SIGKILL, say), speaking JSON lines on
 * stdout. Killed when the test ends if it is still running.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { onTestFinished } from "vitest";

export interface ChildProcessOptions {
  /** The script node runs (plain ESM: a fixture importing the built `dist` of the packages). */
  script: string;
  /** Added to the test's own environment. */
  env?: Record<string, string>;
  /** Files the script imports, checked first so a missing build fails with a clear message. */
  requires?: string[];
}

export interface TestChildProcess<Line> {
  readonly pid: number | undefined;
  /** Every JSON line the child printed on stdout so far. */
  readonly lines: Line[];
  /** The child's exit code or signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  kill(signal?: NodeJS.Signals): void;
}

export function spawnChildProcess<Line = unknown>(options: ChildProcessOptions): TestChildProcess<Line> {
  for (const file of options.requires ?? []) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run \`npx tsc -b\` first (npm test does)`);
  }
  const child = spawn(process.execPath, [options.script], {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Line[] = [];
  let stderr = "";
  let buffered = "";
  child.stdout.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      lines.push(JSON.parse(buffered.slice(0, nl)) as Line);
      buffered = buffered.slice(nl + 1);
    }
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  return {
    pid: child.pid,
    lines,
    exited,
    stderr: () => stderr,
    kill: (signal = "SIGKILL") => {
      child.kill(signal);
    },
  };
}
