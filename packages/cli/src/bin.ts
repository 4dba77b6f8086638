#!/usr/bin/env node
import { run } from "./program.js";

run(process.argv).catch((err: unknown) => {
  const code = (err as { code?: string })?.code;
  process.stderr.write(
    `slotwise: ${code ? `${code}: ` : ""}${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});
