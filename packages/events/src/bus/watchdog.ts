import { ErrorCode, SlotwiseError } from "../errors/index.js";
import { type Logger, NOOP_LOGGER } from "../observability/index.js";
import type { ConsumerInfo } from "../transport/index.js";

/** No delivery for this long while messages are pending is a stall. */
export const DEFAULT_STALL_AFTER_MS = 30_000;
/** Longest pause between two checks, whatever `stallAfterMs` is. */
export const MAX_CHECK_INTERVAL_MS = 5_000;
/** Longest wait for one consumer-info probe before the server counts as unreachable. */
export const MAX_PROBE_TIMEOUT_MS = 5_000;

export interface WatchdogOptions {
  /**
   * A consumer that received nothing for this long while the server holds messages for it is stalled:
   * it is reported (observer, log line, `health()`) and recovered. @default 30000
   */
  stallAfterMs?: number;
  /** Time between two checks; a check costs nothing unless the consumer was silent. @default min(stallAfterMs / 4, 5000) */
  checkIntervalMs?: number;
  /** Longest wait for the server's consumer info; slower counts as unreachable. @default min(stallAfterMs, 5000) */
  probeTimeoutMs?: number;
  /**
   * Re-create the pull loop (where the transport's subscription can) when stalled with messages pending,
   * then again every `stallAfterMs` while the stall lasts. @default true
   */
  recover?: boolean;
}

export interface ParsedWatchdogOptions {
  stallAfterMs: number;
  checkIntervalMs: number;
  probeTimeoutMs: number;
  recover: boolean;
}

export function parseWatchdogOptions(user: WatchdogOptions = {}): ParsedWatchdogOptions {
  const stallAfterMs = user.stallAfterMs ?? DEFAULT_STALL_AFTER_MS;
  const parsed: ParsedWatchdogOptions = {
    stallAfterMs,
    checkIntervalMs: user.checkIntervalMs ?? Math.min(Math.ceil(stallAfterMs / 4), MAX_CHECK_INTERVAL_MS),
    probeTimeoutMs: user.probeTimeoutMs ?? Math.min(stallAfterMs, MAX_PROBE_TIMEOUT_MS),
    recover: user.recover ?? true,
  };
  const bad: string[] = [];
  for (const field of ["stallAfterMs", "checkIntervalMs", "probeTimeoutMs"] as const) {
    const v = parsed[field];
    if (!Number.isFinite(v) || v < 1) bad.push(`${field} must be a positive number, got ${v}`);
  }
  if (bad.length === 0 && parsed.checkIntervalMs > parsed.stallAfterMs) {
    bad.push("checkIntervalMs must not exceed stallAfterMs (a stall would be noticed late)");
  }
  if (bad.length > 0) {
    throw new SlotwiseError(ErrorCode.INVALID_OPTIONS, `invalid watchdog options: ${bad.join("; ")}`, {
      details: { watchdog: parsed },
    });
  }
  return parsed;
}

/**
 * Why a consumer counts as stalled: the server holds messages it does not deliver (`pending`), the server
 * cannot be asked (`unreachable`: disconnected, or too slow to answer), or the durable is gone (`missing`).
 */
export type StallReason = "pending" | "unreachable" | "missing";

export interface WatchedConsumer {
  handler: string;
  consumer: string;
  stream: string;
}

export interface StallInfo extends WatchedConsumer {
  reason: StallReason;
  /** The last delivery, or the last check that found nothing pending (epoch ms). */
  since: number;
  /** Time without delivery when the stall was noticed. */
  silentMs: number;
  /** Messages not yet delivered, when the server answered. */
  pending?: number;
  /** Delivered and not yet acknowledged, when the server answered. */
  ackPending?: number;
  /** What the probe failed with (`unreachable`). */
  error?: unknown;
}

export interface ResumeInfo extends WatchedConsumer {
  reason: StallReason;
  since: number;
  /** The whole silent interval: from `since` to the delivery (or check) that ended it. */
  stalledMs: number;
  /** A message arrived, or the server reported nothing pending any more (another instance took them). */
  via: "delivery" | "caught_up";
}

export interface RecoveryInfo extends WatchedConsumer {
  /** 1 for the first recovery of a stall. */
  attempt: number;
  error?: unknown;
}

/** A consumer's liveness, as numbers a metrics exporter can read. Times are epoch ms, 0 for never. */
export interface ConsumerHealth extends WatchedConsumer {
  state: "ok" | "stalled";
  /** Messages handed to the chain since start. */
  delivered: number;
  /** The last delivery, or the last check that found nothing pending. */
  lastProgressAt: number;
  /** When the current stall began (its `since`), 0 when not stalled. */
  stalledSince: number;
  stallReason?: StallReason;
  /** Pending messages at the last probe that got an answer. */
  pending?: number;
  stalls: number;
  recoveries: number;
  failedRecoveries: number;
  /** Length of the last stall that ended; 0 before. */
  lastStalledMs: number;
  totalStalledMs: number;
}

export interface ConsumerWatchdogInput extends WatchedConsumer {
  options: ParsedWatchdogOptions;
  /** The server's view of the durable; undefined when it does not exist. */
  probe: () => Promise<ConsumerInfo | undefined>;
  /** Re-creates the pull loop; absent when the subscription cannot. */
  recover?: () => Promise<void>;
  /** The durable's `max_ack_pending`, to explain a stall caused by handlers that never finish. */
  maxAckPending?: number;
  onStall?: (info: StallInfo) => void;
  onResume?: (info: ResumeInfo) => void;
  onRecover?: (info: RecoveryInfo) => void;
  /** @default NOOP_LOGGER */
  logger?: Logger;
  /** @default Date.now */
  now?: () => number;
}

export interface ConsumerWatchdog {
  /** Called for every delivery: a counter and a flag, nothing more on the hot path. */
  delivered(): void;
  /** Starts the periodic checks (an unref'd timer). */
  start(): void;
  /** One check now (the timer's work); never rejects. */
  check(): Promise<void>;
  health(): ConsumerHealth;
  /** Clears the timer; a running check finishes without reporting. */
  stop(): void;
}

const TIMED_OUT = Symbol("timed out");

class Watchdog implements ConsumerWatchdog {
  readonly #in: ConsumerWatchdogInput;
  readonly #o: ParsedWatchdogOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #who: WatchedConsumer;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;
  #checking = false;
  #count = 0;
  #seenCount = 0;
  #lastProgressAt: number;
  /** Set while stalled (a plain field: `delivered()` reads it per message). */
  #stall: { since: number; reason: StallReason } | undefined;
  #lastRecoveryAt = 0;
  #recoveryAttempt = 0;
  #pending: number | undefined;
  #stats = { stalls: 0, recoveries: 0, failedRecoveries: 0, lastStalledMs: 0, totalStalledMs: 0 };

  constructor(input: ConsumerWatchdogInput) {
    this.#in = input;
    this.#o = input.options;
    this.#log = input.logger ?? NOOP_LOGGER;
    this.#now = input.now ?? Date.now;
    this.#who = { handler: input.handler, consumer: input.consumer, stream: input.stream };
    this.#lastProgressAt = this.#now();
  }

  delivered(): void {
    this.#count++;
    if (this.#stall !== undefined) this.#resume(this.#now(), "delivery");
  }

  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#lastProgressAt = this.#now();
    this.#timer = setInterval(() => void this.check(), this.#o.checkIntervalMs);
    // The watchdog never keeps a process alive on its own.
    this.#timer.unref?.();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  health(): ConsumerHealth {
    const stall = this.#stall;
    return {
      ...this.#who,
      state: stall ? "stalled" : "ok",
      delivered: this.#count,
      lastProgressAt: this.#lastProgressAt,
      stalledSince: stall?.since ?? 0,
      ...(stall ? { stallReason: stall.reason } : {}),
      ...(this.#pending === undefined ? {} : { pending: this.#pending }),
      ...this.#stats,
    };
  }

  async check(): Promise<void> {
    if (this.#checking || this.#stopped) return;
    this.#checking = true;
    try {
      await this.#check();
    } catch (error) {
      // A bug in a listener must not end the watch, and nothing may escape a timer.
      this.#safe(() => this.#log.error({ ...this.#who, err: error }, "consumer watchdog check failed"));
    } finally {
      this.#checking = false;
    }
  }

  async #check(): Promise<void> {
    const now = this.#now();
    if (this.#count !== this.#seenCount) {
      this.#seenCount = this.#count;
      this.#lastProgressAt = now;
      return;
    }
    if (this.#stall === undefined && now - this.#lastProgressAt < this.#o.stallAfterMs) return;

    // Silent for long enough: ask the server whether anything is waiting.
    let info: ConsumerInfo | undefined;
    let error: unknown;
    try {
      const answer = await this.#probe();
      if (answer === TIMED_OUT) {
        error = new SlotwiseError(ErrorCode.TIMEOUT, `no consumer info within ${this.#o.probeTimeoutMs} ms`);
      } else {
        info = answer;
      }
    } catch (err) {
      error = err;
    }
    if (this.#stopped || this.#count !== this.#seenCount) return; // a delivery came meanwhile
    const at = this.#now();
    if (info !== undefined) this.#pending = info.pending;
    if (error === undefined && info !== undefined && info.pending === 0) {
      // Nothing waiting: silence is idleness, not a stall.
      this.#lastProgressAt = at;
      if (this.#stall !== undefined) this.#resume(at, "caught_up");
      return;
    }
    const reason: StallReason =
      error !== undefined ? "unreachable" : info === undefined ? "missing" : "pending";
    if (this.#stall === undefined) {
      this.#stall = { since: this.#lastProgressAt, reason };
      this.#recoveryAttempt = 0;
      this.#stats.stalls++;
      const report: StallInfo = {
        ...this.#who,
        reason,
        since: this.#lastProgressAt,
        silentMs: at - this.#lastProgressAt,
        ...(info ? { pending: info.pending, ackPending: info.ackPending } : {}),
        ...(error === undefined ? {} : { error }),
      };
      this.#safe(() => this.#in.onStall?.(report));
      this.#safe(() =>
        this.#log.warn(
          {
            ...this.#who,
            reason,
            silentMs: report.silentMs,
            pending: report.pending,
            ackPending: report.ackPending,
            ...(error === undefined ? {} : { err: error }),
          },
          `consumer stalled: ${this.#explain(reason, info)}`,
        ),
      );
    } else if (this.#stall.reason !== reason) {
      this.#safe(() =>
        this.#log.info(
          { ...this.#who, reason, previous: this.#stall?.reason },
          `consumer still stalled: ${this.#explain(reason, info)}`,
        ),
      );
      this.#stall.reason = reason;
    }
    // Recovery helps only a pull loop that stopped asking; an unreachable server reconnects by itself.
    if (
      reason === "pending" &&
      this.#o.recover &&
      this.#in.recover &&
      at - this.#lastRecoveryAt >= this.#o.stallAfterMs
    ) {
      await this.#recover(at);
    }
  }

  #probe(): Promise<ConsumerInfo | undefined | typeof TIMED_OUT> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), this.#o.probeTimeoutMs);
    });
    return Promise.race([this.#in.probe(), timeout]).finally(() => clearTimeout(timer));
  }

  async #recover(at: number): Promise<void> {
    const recover = this.#in.recover;
    if (recover === undefined) return;
    this.#lastRecoveryAt = at;
    const attempt = ++this.#recoveryAttempt;
    try {
      await recover();
      this.#stats.recoveries++;
      this.#safe(() => this.#in.onRecover?.({ ...this.#who, attempt }));
      this.#safe(() =>
        this.#log.info({ ...this.#who, attempt }, "consumer pull loop re-created after a stall"),
      );
    } catch (error) {
      this.#stats.failedRecoveries++;
      this.#safe(() => this.#in.onRecover?.({ ...this.#who, attempt, error }));
      this.#safe(() =>
        this.#log.error(
          { ...this.#who, attempt, err: error },
          "consumer recovery failed; trying again later",
        ),
      );
    }
  }

  #resume(at: number, via: ResumeInfo["via"]): void {
    const stall = this.#stall;
    if (stall === undefined) return;
    this.#stall = undefined;
    const stalledMs = at - stall.since;
    this.#stats.lastStalledMs = stalledMs;
    this.#stats.totalStalledMs += stalledMs;
    const info: ResumeInfo = { ...this.#who, reason: stall.reason, since: stall.since, stalledMs, via };
    this.#safe(() => this.#in.onResume?.(info));
    this.#safe(() =>
      this.#log.info(
        { ...this.#who, reason: stall.reason, stalledMs, via },
        `consumer resumed after ${stalledMs} ms`,
      ),
    );
  }

  #explain(reason: StallReason, info: ConsumerInfo | undefined): string {
    if (reason === "unreachable") return "the server does not answer (disconnected or overloaded)";
    if (reason === "missing") return "the durable consumer no longer exists";
    const max = this.#in.maxAckPending;
    if (info !== undefined && max !== undefined && info.ackPending >= max) {
      return `${info.pending} message(s) pending and max_ack_pending (${max}) reached: handlers are not settling their messages`;
    }
    return `${info?.pending ?? "some"} message(s) pending and nothing delivered`;
  }

  #safe(fn: () => void): void {
    try {
      fn();
    } catch {
      // observers and loggers must not break the watch
    }
  }
}

/**
 * A liveness watchdog for one durable consumer. Cheap while messages flow (a counter per delivery); when
 * the consumer has been silent for `stallAfterMs` it asks the server for the durable's pending count. If
 * messages are waiting (or the server cannot be asked), the stall is reported once through `onStall` and a
 * warning, the pull loop is re-created while messages wait, and the whole silent interval is reported
 * through `onResume` when a delivery (or an empty backlog) ends it. Never throws.
 */
export function createConsumerWatchdog(input: ConsumerWatchdogInput): ConsumerWatchdog {
  return new Watchdog(input);
}
