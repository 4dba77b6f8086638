/**
 * Notifications are coalesced (one per interval, carried by an append's own statement when one comes
 * along): whatever the pattern of commits, a listener must learn of the last one. Each wake-up reads the
 * stream's version, as a relay would read the log; the test waits for a wake-up that sees the end.
 */
import { createEvent } from "@slotwise/events";
import { uniqueId, waitFor } from "@slotwise/events/testing";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createPostgresEventStore } from "./index.js";

const connectionString = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const schema = `notify_${uniqueId()}`;
const pool = new pg.Pool({ connectionString, max: 8 });
pool.on("error", () => {});

afterAll(async () => {
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await pool.end();
});

const event = (subject: string) =>
  createEvent({ type: "notify.item.added.v1", source: "notify-test", subject, data: { subject } });

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe("PostgreSQL append notifications", () => {
  it("lets a listener see the last of a burst of appends, conflicts and transactions", async () => {
    const writer = createPostgresEventStore({ pool, schema, notifyIntervalMs: 20 });
    const reader = createPostgresEventStore({ pool, schema });
    const streamId = `burst-${uniqueId()}`;
    const seen: number[] = [];
    let wakeUps = 0;
    const unlisten = await reader.listen(() => {
      wakeUps++;
      void reader.version(streamId).then((v) => seen.push(v));
    });
    try {
      let version = 0;
      for (let round = 0; round < 5; round++) {
        // Appends faster than the interval, one refused (nothing committed), one in a transaction.
        for (let i = 0; i < 8; i++) {
          await writer.append(streamId, [event(streamId)], { expectedVersion: version });
          version++;
        }
        await writer
          .append(streamId, [event(streamId)], { expectedVersion: version - 1 })
          .catch(() => undefined);
        await writer.transaction((tx) => tx.append(streamId, [event(streamId)]));
        version++;
        await pause(round * 7);
      }
      expect(await writer.version(streamId)).toBe(version);
      await waitFor(() => seen.includes(version), { message: `a wake-up that sees version ${version}` });
      // Coalesced: far fewer wake-ups than the 45 commits.
      expect(wakeUps).toBeLessThan(45);
    } finally {
      await unlisten();
      await writer.close();
      await reader.close();
    }
  });

  it("carries the notification of a lone append, and of one after a quiet interval", async () => {
    const writer = createPostgresEventStore({ pool, schema, notifyIntervalMs: 5 });
    const reader = createPostgresEventStore({ pool, schema });
    const streamId = `lone-${uniqueId()}`;
    const seen: number[] = [];
    const unlisten = await reader.listen(() => {
      void reader.version(streamId).then((v) => seen.push(v));
    });
    try {
      await writer.append(streamId, [event(streamId)]);
      await waitFor(() => seen.includes(1), { message: "a wake-up that sees the first append" });
      await pause(30);
      await writer.append(streamId, [event(streamId)]);
      await waitFor(() => seen.includes(2), { message: "a wake-up that sees the second append" });
    } finally {
      await unlisten();
      await writer.close();
      await reader.close();
    }
  });
});
