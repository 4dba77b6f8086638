#!/usr/bin/env node
/**
 * `npm run bench -- <name>`: runs one bench, or every bench when no name is given. Each bench prints its
 * progress on stderr and one JSON line on stdout; with one bench that line is the last line of stdout.
 */
import { runAppendBench } from "./append.js";
import { runConsumeBench } from "./consume.js";
import { runPublishBench } from "./publish.js";
import { runReadBench } from "./read.js";
import { runRelayBench } from "./relay.js";

type Bench = () => Promise<unknown>;

/** Every bench by name, in the order `npm run bench` runs them. */
export const BENCHES: Readonly<Record<string, Bench>> = {
  publish: () => runPublishBench(),
  consume: () => runConsumeBench(),
  append: () => runAppendBench(),
  read: () => runReadBench(),
  relay: () => runRelayBench(),
};

function usage(): string {
  return `usage: npm run bench -- [${Object.keys(BENCHES).join("|")}]\n  (no name runs them all)`;
}

async function main(argv: string[]): Promise<number> {
  const names = argv.length === 0 ? Object.keys(BENCHES) : argv;
  for (const name of names) {
    if (!(name in BENCHES)) {
      process.stderr.write(`unknown bench "${name}"\n${usage()}\n`);
      return 2;
    }
  }
  for (const name of names) {
    const result = await BENCHES[name]!();
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
