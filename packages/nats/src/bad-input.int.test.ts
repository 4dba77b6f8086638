import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ADVISORY_STREAM, createDeadLetterQueue, type DeadLetter, sweeperDurableFor } from "@slotwise/events";
import { BadInputCreated, runBadInputMatrix, uniqueId, waitFor } from "@slotwise/events/testing";
import { describe, expect, it, onTestFinished } from "vitest";
import { createNatsTransport } from "./index.js";

const servers = process.env.NATS_URL ?? "nats://127.0.0.1:4222";

runBadInputMatrix("nats", {
  connect: () => createNatsTransport({ servers, name: "slotwise-bad-input" }),
});

const CHILD = fileURLToPath(new URL("./fixtures/poison-consumer.mjs", import.meta.url));
const ATTEMPTS = 3;

interface ChildReport {
  ready?: boolean;
  handled?: number;
  crashing?: number;
  attempt?: number;
  deadLettered?: number;
}

describe("a handler that crashes its process on one event every time (real NATS, child processes)", () => {
  it("ends that event in the DLQ after the configured deliveries, via the advisory sweeper, and handles the events after it", async () => {
    const env = `p${uniqueId(8)}`;
    const E = env.toUpperCase();
    const admin = await createNatsTransport({ servers });
    const reports: ChildReport[] = [];
    let child: ChildProcess | undefined;
    let supervising = true;
    let starts = 0;
    let stderr = "";

    // A supervisor: whenever the consumer process dies, start another.
    const startChild = () => {
      starts++;
      const c = spawn(process.execPath, [CHILD], {
        env: {
          ...process.env,
          NATS_URL: servers,
          POISON_ENV: env,
          POISON_BOOKING: "poison",
          POISON_ACK_WAIT_MS: "1000",
          POISON_ATTEMPTS: String(ATTEMPTS),
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let buffered = "";
      c.stdout?.on("data", (chunk: Buffer) => {
        buffered += chunk.toString("utf8");
        let nl = buffered.indexOf("\n");
        while (nl >= 0) {
          reports.push(JSON.parse(buffered.slice(0, nl)) as ChildReport);
          buffered = buffered.slice(nl + 1);
          nl = buffered.indexOf("\n");
        }
      });
      c.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString("utf8");
      });
      c.once("exit", () => {
        if (supervising) startChild();
      });
      child = c;
    };
    onTestFinished(async () => {
      supervising = false;
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null) {
        const exited = new Promise((resolve) => c.once("exit", resolve));
        c.kill("SIGKILL");
        await exited;
      }
      await admin.deleteStream(`${E}_BOOKING`).catch(() => {});
      await admin.deleteStream(`${E}_DLQ`).catch(() => {});
      await admin.deleteConsumer(ADVISORY_STREAM, sweeperDurableFor(`${E}_BOOKING`)).catch(() => {});
      await admin.close();
    });

    startChild();
    await waitFor(() => reports.some((r) => r.ready), {
      timeoutMs: 20_000,
      message: `child ready ${stderr}`,
    });

    const subject = `${env}.${BadInputCreated.type}`;
    const valid: number[] = [];
    let poisonSeq = 0;
    for (let seq = 0; seq < 11; seq++) {
      const bookingId = seq === 5 ? "poison" : `bk-${seq}`;
      const ack = await admin.publish({
        subject,
        data: new TextEncoder().encode(
          JSON.stringify({
            id: `${env}-${seq}`,
            source: "web",
            specversion: "1.0",
            type: BadInputCreated.type,
            subject: bookingId,
            time: new Date().toISOString(),
            datacontenttype: "application/json",
            data: { bookingId, seq },
            correlationid: `${env}-${seq}`,
            version: "1.0",
          }),
        ),
        msgId: `${env}-${seq}`,
      });
      if (seq === 5) poisonSeq = ack.seq;
      else valid.push(seq);
    }

    const dlq = createDeadLetterQueue({ transport: admin, env });
    const handled = () => new Set(reports.flatMap((r) => (r.handled === undefined ? [] : [r.handled])));
    const [dl] = await waitFor(
      async () => {
        const letters = await dlq.list();
        return letters.length === 1 && handled().size === valid.length ? letters : undefined;
      },
      { timeoutMs: 45_000, message: "poison dead-lettered and every other event handled" },
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; reports ${JSON.stringify(reports)}; stderr ${stderr}`);
    });

    expect(dl).toMatchObject<Partial<DeadLetter>>({
      code: "MAX_DELIVERIES",
      consumer: "booking-service-crashy",
      stream: `${E}_BOOKING`,
      streamSequence: poisonSeq,
      deliveries: ATTEMPTS,
      originalSubject: subject,
    });
    expect(dl?.message).toContain("died or stalled");
    // Each delivery of the poison killed a process; the handler never reached a last attempt of its own.
    const crashes = reports.filter((r) => r.crashing !== undefined);
    expect(crashes.map((r) => r.attempt)).toEqual([1, 2, 3]);
    expect(starts).toBe(ATTEMPTS + 1);
    expect([...handled()].sort((a, b) => a - b)).toEqual(valid);
    // Handled once each: none of them was in flight when a process died.
    expect(reports.filter((r) => r.handled !== undefined)).toHaveLength(valid.length);
  }, 60_000);
});
