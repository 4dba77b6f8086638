import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { createEvent, ErrorCode } from "@slotwise/events";
import { describe, expect, it } from "vitest";
import { createPgliteEventStore } from "./index.js";

const event = (subject: string) =>
  createEvent({ type: "pglite.item.added.v1", source: "pglite-test", subject, data: { subject } });

describe("PGlite event store", () => {
  it("keeps its events in a data directory across restarts, migrating once", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "slotwise-pglite-"));
    try {
      const first = createPgliteEventStore({ dataDir });
      const e = event("s1");
      await first.append("s1", [e], { expectedVersion: "no-stream" });
      await first.close();

      const second = createPgliteEventStore({ dataDir });
      const [stored] = await second.read("s1");
      expect(stored?.event).toEqual(e);
      expect(await second.version("s1")).toBe(1);
      await second.close();

      const db = new PGlite(dataDir);
      const { rows } = await db.query<{ version: number }>(
        "SELECT version FROM slotwise.migrations ORDER BY version",
      );
      expect(rows).toEqual([{ version: 1 }, { version: 2 }]);
      await db.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("leaves a database it was given open, and refuses pglite with dataDir", async () => {
    const db = await PGlite.create();
    const store = createPgliteEventStore({ pglite: db, schema: "given" });
    await store.append("s", [event("s")]);
    await store.close();
    expect(db.closed).toBe(false);
    const { rows } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM given.events");
    expect(rows).toEqual([{ n: 1 }]);
    await db.close();
    expect(() => createPgliteEventStore({ pglite: db, dataDir: "/tmp/x" })).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_OPTIONS }),
    );
  });
});
