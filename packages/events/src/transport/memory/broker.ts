/**
 * The in-process "server" shared by every connection of one broker: streams with their consumers, and core
 * subject routing with queue groups. Connections (`connection.ts`) are the clients.
 */
import { ErrorCode, SlotwiseError } from "../../errors/errors.js";
import type {
  ConsumerConfig,
  CoreMessage,
  Headers,
  OutboundMessage,
  PublishAck,
  StreamConfig,
  StreamInfo,
} from "../transport.js";
import { MSG_ID_HEADER } from "../transport.js";
import {
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_MAX_ACK_PENDING,
  DEFAULT_MAX_DELIVER,
  MemoryConsumer,
  type ResolvedConsumerConfig,
} from "./consumer.js";
import { MemoryStream, messageSize, resolveStreamConfig } from "./stream.js";
import { isValidSubject, matches, overlaps, type Pattern, tokenize } from "./subject.js";

/** nats-server's default max_payload. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

export interface MemoryBrokerOptions {
  /** Largest message (payload plus headers) the broker accepts, like nats-server's `max_payload`. @default 1048576 */
  maxPayload?: number;
}

/** A core subscription as the broker routes to it. */
export interface CoreRoute {
  readonly pattern: Pattern;
  readonly queue: string | undefined;
  deliver(msg: CoreMessage): void;
}

const EMPTY_HEADERS: Headers = Object.freeze({});
const encoder = new TextEncoder();
const SUBJECT_CACHE_LIMIT = 4096;

export function freezeHeaders(headers: Record<string, string> | undefined): Headers {
  if (!headers || Object.keys(headers).length === 0) return EMPTY_HEADERS;
  return Object.freeze({ ...headers });
}

export class Broker {
  readonly maxPayload: number;
  private readonly streams = new Map<string, MemoryStream>();
  /** Literal subject → the stream capturing it (null: none). Cleared whenever stream subjects change. */
  private readonly captureCache = new Map<string, MemoryStream | null>();
  /** Subscriptions to a literal subject (request inboxes among them), found by one lookup. */
  private readonly literalRoutes = new Map<string, Set<CoreRoute>>();
  /** Subscriptions with wildcards, tested one by one. */
  private readonly wildcardRoutes = new Set<CoreRoute>();
  private routeCount = 0;
  private readonly closers = new Set<() => Promise<void>>();
  private closed = false;

  constructor(options: MemoryBrokerOptions = {}) {
    this.maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    if (!(this.maxPayload > 0)) {
      throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, "maxPayload must be > 0", {
        details: { field: "maxPayload" },
      });
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Connections register how to close them, so closing the broker closes them all. */
  track(close: () => Promise<void>): () => void {
    this.closers.add(close);
    return () => this.closers.delete(close);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.closers].map((close) => close()));
    this.closers.clear();
    for (const stream of this.streams.values()) stream.dispose();
    this.streams.clear();
    this.captureCache.clear();
    this.literalRoutes.clear();
    this.wildcardRoutes.clear();
    this.routeCount = 0;
  }

  // --- streams ---

  ensureStream(config: StreamConfig): StreamInfo {
    const resolved = resolveStreamConfig(config);
    for (const other of this.streams.values()) {
      if (other.name === resolved.name) continue;
      for (const mine of resolved.subjects) {
        const clash = other.config.subjects.find((theirs) => overlaps(tokenize(mine), tokenize(theirs)));
        if (clash !== undefined) {
          throw new SlotwiseError(
            ErrorCode.INVALID_OPTIONS,
            `stream ${resolved.name}: subject "${mine}" overlaps "${clash}" of stream ${other.name}`,
            { details: { field: "subjects", stream: resolved.name, other: other.name } },
          );
        }
      }
    }
    const existing = this.streams.get(resolved.name);
    if (existing) existing.update(resolved);
    else this.streams.set(resolved.name, new MemoryStream(resolved));
    this.captureCache.clear();
    return (this.streams.get(resolved.name) as MemoryStream).info();
  }

  streamInfo(name: string): StreamInfo | undefined {
    return this.streams.get(name)?.info();
  }

  deleteStream(name: string): boolean {
    const stream = this.streams.get(name);
    if (!stream) return false;
    stream.dispose();
    this.streams.delete(name);
    this.captureCache.clear();
    return true;
  }

  stream(name: string): MemoryStream {
    const stream = this.streams.get(name);
    if (!stream) {
      throw new SlotwiseError(ErrorCode.NOT_FOUND, `stream ${name} not found`, { details: { stream: name } });
    }
    return stream;
  }

  publish(msg: OutboundMessage): PublishAck {
    const headers = this.outboundHeaders(msg);
    this.checkPublish(msg.subject, msg.data, headers);
    const stream = this.captureFor(msg.subject);
    if (!stream) {
      // A JetStream publish that no stream captures has no responder on a real server.
      throw new SlotwiseError(ErrorCode.NOT_FOUND, `no stream captures subject ${msg.subject}`, {
        details: { subject: msg.subject },
      });
    }
    // One copy, owned by the broker from here on: later changes to the caller's buffer alter nothing.
    const data = msg.data.slice();
    const ack = this.store(stream, msg.subject, data, headers);
    // The stored publish is a core message too: core subscribers on the subject see it.
    this.route(msg.subject, data, headers, undefined);
    return ack;
  }

  private store(stream: MemoryStream, subject: string, data: Uint8Array, headers: Headers): PublishAck {
    const size = messageSize(data, headers);
    if (stream.config.maxMsgSize > 0 && size > stream.config.maxMsgSize) {
      throw new SlotwiseError(
        ErrorCode.MESSAGE_TOO_LARGE,
        `message of ${size} bytes exceeds maxMsgSize ${stream.config.maxMsgSize} of stream ${stream.name}`,
        { details: { size, limit: stream.config.maxMsgSize, stream: stream.name } },
      );
    }
    return stream.append(subject, data, headers, headers[MSG_ID_HEADER]);
  }

  // --- consumers ---

  ensureConsumer(config: ConsumerConfig): MemoryConsumer {
    const stream = this.stream(config.stream);
    const resolved = this.resolveConsumerConfig(config, stream);
    const existing = stream.consumers.get(resolved.durable);
    if (existing) {
      existing.update(resolved);
      return existing;
    }
    const consumer = new MemoryConsumer(stream, resolved, {
      publish: (subject, data) => this.publishCore({ subject, data }),
    });
    stream.consumers.set(resolved.durable, consumer);
    return consumer;
  }

  consumer(streamName: string, durable: string): MemoryConsumer | undefined {
    return this.streams.get(streamName)?.consumers.get(durable);
  }

  deleteConsumer(streamName: string, durable: string): boolean {
    const stream = this.streams.get(streamName);
    const consumer = stream?.consumers.get(durable);
    if (!stream || !consumer) return false;
    consumer.dispose();
    stream.consumers.delete(durable);
    return true;
  }

  private resolveConsumerConfig(config: ConsumerConfig, stream: MemoryStream): ResolvedConsumerConfig {
    const invalid = (field: string, message: string) =>
      new SlotwiseError(ErrorCode.INVALID_OPTIONS, `consumer ${config.durable}: ${message}`, {
        details: { field, stream: config.stream, durable: config.durable },
      });
    const resolved: ResolvedConsumerConfig = {
      durable: config.durable,
      filterSubjects: [...(config.filterSubjects ?? [])],
      ackWaitMs: config.ackWaitMs ?? DEFAULT_ACK_WAIT_MS,
      // JetStream reads 0 as "unset".
      maxDeliver:
        config.maxDeliver === undefined || config.maxDeliver === 0 ? DEFAULT_MAX_DELIVER : config.maxDeliver,
      maxAckPending: config.maxAckPending ?? DEFAULT_MAX_ACK_PENDING,
      deliverPolicy: config.deliverPolicy ?? "all",
    };
    if (!/^[^.*>\s]+$/.test(resolved.durable)) {
      throw invalid("durable", "a durable name may not be empty or contain . * > or spaces");
    }
    if (!(resolved.ackWaitMs > 0)) throw invalid("ackWaitMs", "must be > 0");
    if (resolved.maxDeliver < -1) throw invalid("maxDeliver", "must be -1 or >= 1");
    if (resolved.maxAckPending === 0 || resolved.maxAckPending < -1) {
      throw invalid("maxAckPending", "must be -1 or >= 1");
    }
    for (const filter of resolved.filterSubjects) {
      if (!isValidSubject(filter, true)) throw invalid("filterSubjects", `invalid subject "${filter}"`);
      const tokens = tokenize(filter);
      if (!stream.patterns.some((p) => overlaps(p, tokens))) {
        throw invalid("filterSubjects", `"${filter}" is not a subject of stream ${stream.name}`);
      }
    }
    return resolved;
  }

  // --- core ---

  /** Core publish; a subject some stream captures is stored too, as on a real server. */
  publishCore(msg: OutboundMessage, reply?: string): number {
    const headers = this.outboundHeaders(msg);
    this.checkPublish(msg.subject, msg.data, headers);
    const data = msg.data.slice();
    let responders = this.route(msg.subject, data, headers, reply);
    const stream = this.captureFor(msg.subject);
    if (stream) {
      responders++;
      let answer: unknown;
      try {
        answer = this.store(stream, msg.subject, data, headers);
      } catch (err) {
        answer = { error: { code: (err as { code?: string }).code, description: (err as Error).message } };
      }
      // JetStream answers a request on a stream subject with its publish acknowledgement.
      if (reply !== undefined)
        this.route(reply, encoder.encode(JSON.stringify(answer)), EMPTY_HEADERS, undefined);
    }
    return responders;
  }

  addRoute(route: CoreRoute): () => void {
    this.routeCount++;
    if (route.pattern.some((t) => t === "*" || t === ">")) {
      this.wildcardRoutes.add(route);
      return () => {
        if (this.wildcardRoutes.delete(route)) this.routeCount--;
      };
    }
    const key = route.pattern.join(".");
    let set = this.literalRoutes.get(key);
    if (!set) {
      set = new Set();
      this.literalRoutes.set(key, set);
    }
    set.add(route);
    return () => {
      const current = this.literalRoutes.get(key);
      if (!current?.delete(route)) return;
      this.routeCount--;
      if (current.size === 0) this.literalRoutes.delete(key);
    };
  }

  /** Delivers to every matching subscription and to one member per queue group; returns the recipients. */
  route(subject: string, data: Uint8Array, headers: Headers, reply: string | undefined): number {
    if (this.routeCount === 0) return 0;
    const literal = this.literalRoutes.get(subject);
    if (literal === undefined && this.wildcardRoutes.size === 0) return 0;
    const tokens = tokenize(subject);
    const message: CoreMessage = {
      subject,
      data,
      headers,
      reply,
      respond: (answer, answerHeaders) => {
        if (reply === undefined || this.closed) return;
        this.route(reply, answer.slice(), freezeHeaders(answerHeaders), undefined);
      },
    };
    let recipients = 0;
    let groups: Map<string, CoreRoute[]> | undefined;
    const candidates = literal === undefined ? this.wildcardRoutes : [...literal, ...this.wildcardRoutes];
    for (const route of candidates) {
      if (!matches(route.pattern, tokens)) continue;
      if (route.queue === undefined) {
        route.deliver(message);
        recipients++;
      } else {
        groups ??= new Map();
        const members = groups.get(route.queue);
        if (members) members.push(route);
        else groups.set(route.queue, [route]);
      }
    }
    if (groups) {
      for (const members of groups.values()) {
        const chosen = members[Math.floor(Math.random() * members.length)] as CoreRoute;
        chosen.deliver(message);
        recipients++;
      }
    }
    return recipients;
  }

  // --- shared checks ---

  private outboundHeaders(msg: OutboundMessage): Headers {
    if (msg.msgId === undefined) return freezeHeaders(msg.headers);
    return freezeHeaders({ ...msg.headers, [MSG_ID_HEADER]: msg.msgId });
  }

  private checkPublish(subject: string, data: Uint8Array, headers: Headers): void {
    if (!isValidSubject(subject, false)) {
      throw new SlotwiseError(ErrorCode.INVALID_SUBJECT, `cannot publish to subject "${subject}"`, {
        details: { subject },
      });
    }
    const size = messageSize(data, headers);
    if (size > this.maxPayload) {
      throw new SlotwiseError(
        ErrorCode.MESSAGE_TOO_LARGE,
        `message of ${size} bytes exceeds the broker's maxPayload ${this.maxPayload}`,
        { details: { size, limit: this.maxPayload, subject } },
      );
    }
  }

  private captureFor(subject: string): MemoryStream | undefined {
    const cached = this.captureCache.get(subject);
    if (cached !== undefined) return cached ?? undefined;
    const tokens = tokenize(subject);
    let found: MemoryStream | null = null;
    for (const stream of this.streams.values()) {
      if (stream.patterns.some((p) => matches(p, tokens))) {
        found = stream;
        break;
      }
    }
    if (this.captureCache.size >= SUBJECT_CACHE_LIMIT) this.captureCache.clear();
    this.captureCache.set(subject, found);
    return found ?? undefined;
  }
}
