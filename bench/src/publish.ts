/**
 * `npm run bench -- publish`: 100,000 CloudEvents of about 600 bytes published through our publisher
 * (`createPublisher` over the NATS transport) and through raw `@nats-io/jetstream`, with the same payload
 * bytes, the same stream config and the same in-flight window, in one run. Also awaited one by one.
 *
 * Runs alternate (raw, ours, raw, ours, …) after a warm-up, each into a fresh stream, and the median of
 * the rounds is reported, so JIT warm-up and disk state favour neither side.
 */
import { randomUUID } from "node:crypto";
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import {
  CLOUDEVENTS_CONTENT_TYPE,
  type CloudEvent,
  CONTENT_TYPE_HEADER,
  createEvent,
  createPublisher,
  encodeEvent,
  type StreamConfig,
} from "@slotwise/events";
import { createNatsTransport, type NatsTransport } from "@slotwise/nats";
import { log, median, type PublishBenchResult, rate } from "./report.js";

export const DEFAULT_PUBLISH_EVENTS = 100_000;
export const DEFAULT_AWAITED_EVENTS = 10_000;
export const DEFAULT_WINDOW = 256;
export const DEFAULT_ROUNDS = 3;
const WARMUP_EVENTS = 5_000;

export interface PublishBenchOptions {
  /** @default process.env.NATS_URL ?? "nats://127.0.0.1:4222" */
  servers?: string;
  /** Events per pipelined run. @default 100000 */
  events?: number;
  /** Events per awaited run. @default 10000 */
  awaitedEvents?: number;
  /** In-flight publishes, the same for both sides. @default 256 */
  window?: number;
  /** Alternating rounds; the median is reported. @default 3 */
  rounds?: number;
}

