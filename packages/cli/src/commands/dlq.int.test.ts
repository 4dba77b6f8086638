import {
  ADVISORY_STREAM,
  createEvent,
  createEventBus,
  createEventRegistry,
  defineEvent,
  encodeEvent,
  sweeperDurableFor,
} from "@slotwise/events";
import { uniqueId, waitFor } from "@slotwise/events/testing";
import { createNatsTransport } from "@slotwise/nats";
import { Command } from "commander";
import { describe, expect, it, onTestFinished } from "vitest";
import { z } from "zod";
import { registerDlq } from "./dlq.js";

const NATS = process.env.NATS_URL ?? "nats://127.0.0.1:4222";

const Created = defineEvent({
  type: "booking.appointment.created.v1",
  schema: z.object({ bookingId: z.string() }),
});

/** A real bus on NATS whose handler counts effects (deduped by event id); `broken` ids fail until fixed. */
async function scenario() {
  const env = `c${uniqueId(8)}`;
  const transport = await createNatsTransport({ servers: NATS });
  const broken = new Set<string>(["bk-2", "bk-3"]);
  const effects = new Map<string, number>();
  const bus = createEventBus({
    transport,
    service: "booking-service",
    env,
    registry: createEventRegistry().register(Created),
    retry: { attempts: 2, baseMs: 10, capMs: 20 },
  });
  bus.handle({
    name: "projector",
    types: [Created],
    handler: (e) => {
      const id = (e.data as { bookingId: string }).bookingId;
      if (broken.has(id)) throw new Error(`cannot project ${id}`);
      effects.set(id, (effects.get(id) ?? 0) + 1);
    },
  });
  await bus.start();
  onTestFinished(async () => {
    await bus.close();
    const admin = await createNatsTransport({ servers: NATS });
    const E = env.toUpperCase();
    await admin.deleteStream(`${E}_BOOKING`);
    await admin.deleteStream(`${E}_DLQ`);
    await admin.deleteConsumer(ADVISORY_STREAM, sweeperDurableFor(`${E}_BOOKING`));
    await admin.close();
  });
  for (const id of ["bk-1", "bk-2", "bk-3"]) {
    await bus.publish(Created.create({ source: "web", subject: id, data: { bookingId: id } }));
  }
  const bad = createEvent({ type: Created.type, source: "web", subject: "bk-9", data: { bookingId: 9 } });
  await transport.publish({ subject: `${env}.${bad.type}`, data: encodeEvent(bad), msgId: bad.id });

  /** Runs `slotwise dlq …` in-process, returning what it printed. */
  const cli = async (...args: string[]): Promise<string> => {
    let out = "";
    const program = new Command().exitOverride().configureOutput({
      writeOut: (s) => {
        out += s;
      },
      writeErr: (s) => {
        out += s;
      },
    });
    registerDlq(program, {
      write: (s) => {
        out += s;
      },
    });
    await program.parseAsync(["node", "slotwise", "dlq", ...args, "--nats", NATS, "--env", env], {
      from: "node",
    });
    return out;
  };
  await waitFor(() => effects.size === 1, { timeoutMs: 15_000 });
  await waitFor(async () => JSON.parse(await cli("list", "--json")).length === 3, { timeoutMs: 15_000 });
  return { env, broken, effects, cli };
}

describe("slotwise dlq (real NATS)", () => {
  it("lists dead letters as a table, as JSON, by code and up to a limit", async () => {
    const { cli, env } = await scenario();
    const text = await cli("list");
    expect(text.split("\n")[0]).toMatch(/^SEQ\s+TIME\s+CODE\s+CONSUMER\s+SUBJECT\s+DELIVERIES\s+MESSAGE$/);
    expect(text).toContain("MAX_DELIVERIES");
    expect(text).toContain("[data.bookingId]");
    const all = JSON.parse(await cli("list", "--json")) as { code: string; originalSubject: string }[];
    expect(all.map((d) => d.code).sort()).toEqual(["MAX_DELIVERIES", "MAX_DELIVERIES", "SCHEMA_VIOLATION"]);
    expect(all.every((d) => d.originalSubject === `${env}.${Created.type}`)).toBe(true);
    expect(JSON.parse(await cli("list", "--json", "--code", "SCHEMA_VIOLATION"))).toHaveLength(1);
    expect(JSON.parse(await cli("list", "--json", "--filter", "code=MAX_DELIVERIES"))).toHaveLength(2);
    expect(JSON.parse(await cli("list", "--json", "--limit", "1"))).toHaveLength(1);
    await expect(cli("list", "--limit", "zero")).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
    await expect(cli("list", "--filter", "colour=red")).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
  });

  it("shows one dead letter with its reason, headers and original bytes", async () => {
    const { cli } = await scenario();
    const [first] = JSON.parse(await cli("list", "--json", "--code", "SCHEMA_VIOLATION")) as {
      seq: number;
    }[];
    const text = await cli("show", String(first?.seq));
    expect(text).toMatch(/code\s+SCHEMA_VIOLATION/);
    expect(text).toMatch(/attribute\s+data\.bookingId/);
    expect(text).toContain('"bookingId":9');
    const json = JSON.parse(await cli("show", String(first?.seq), "--json"));
    expect(json).toMatchObject({
      code: "SCHEMA_VIOLATION",
      consumer: "booking-service-projector",
      dataEncoding: "utf8",
    });
    expect(JSON.parse(json.data)).toMatchObject({ type: Created.type, data: { bookingId: 9 } });
    await expect(cli("show", "99999")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("replays a dead letter once: replaying it twice does not double the effect", async () => {
    const { cli, broken, effects } = await scenario();
    const letters = JSON.parse(await cli("list", "--json", "--code", "MAX_DELIVERIES")) as {
      seq: number;
    }[];
    const seq = String(letters[0]?.seq);
    broken.clear();
    const replayed = JSON.parse(await cli("replay", seq, "--json"));
    expect(replayed).toMatchObject([{ seq: Number(seq), duplicate: false }]);
    await expect(cli("replay", seq)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await waitFor(() => effects.size === 2, { timeoutMs: 15_000 });
    expect(JSON.parse(await cli("list", "--json"))).toHaveLength(2);
    // The rest by filter; the schema violation stays.
    const text = await cli("replay", "--all", "--filter", "code=MAX_DELIVERIES");
    expect(text).toMatch(/^SEQ\s+CODE\s+SUBJECT\s+REPUBLISHED/);
    expect(await cli("replay", "--all", "--code", "MAX_DELIVERIES")).toContain("nothing to replay");
    await waitFor(() => effects.size === 3, { timeoutMs: 15_000 });
    expect(JSON.parse(await cli("list", "--json"))).toMatchObject([{ code: "SCHEMA_VIOLATION" }]);
    // One effect per event, whatever was replayed and how often.
    expect([...effects.values()]).toEqual([1, 1, 1]);
    await expect(cli("replay")).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
    await expect(cli("replay", "1", "--all")).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
  });

  it("has --help on each command", async () => {
    const { cli } = await scenario();
    for (const sub of ["list", "show", "replay"]) {
      const help = await cli(sub, "--help").catch((e: { code?: string }) => e);
      expect(help).toMatchObject({ code: "commander.helpDisplayed" });
    }
    const out: string[] = [];
    const program = new Command().exitOverride().configureOutput({ writeOut: (s) => void out.push(s) });
    registerDlq(program);
    await program.parseAsync(["node", "slotwise", "dlq", "replay", "--help"]).catch(() => {});
    expect(out.join("")).toContain("--all");
    expect(out.join("")).toContain("--filter <key=value>");
  });
});
