import {
  AckPolicy,
  DiscardPolicy,
  type ConsumerConfig as JsConsumerConfig,
  type ConsumerInfo as JsConsumerInfo,
  DeliverPolicy as JsDeliverPolicy,
  type StreamConfig as JsStreamConfig,
  type StreamInfo as JsStreamInfo,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";
import {
  type ConsumerConfig,
  type ConsumerInfo,
  type DeliverPolicy,
  ErrorCode,
  type Headers,
  MSG_ID_HEADER,
  SlotwiseError,
  type StreamConfig,
  type StreamInfo,
} from "@slotwise/events";

/** JetStream's own default duplicate window: two minutes. */
export const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
export const DEFAULT_ACK_WAIT_MS = 30_000;
export const DEFAULT_MAX_DELIVER = -1;
export const DEFAULT_MAX_ACK_PENDING = 1_000;

/** JetStream durations are nanoseconds. */
export function msToNanos(ms: number): number {
  return Math.round(ms * 1_000_000);
}

export function nanosToMs(ns: number | undefined): number {
  return ns === undefined ? 0 : Math.round(ns / 1_000_000);
}

function invalid(message: string, details: Record<string, unknown>): SlotwiseError {
  return new SlotwiseError(ErrorCode.INVALID_OPTIONS, message, { details });
}

/** The nats.js stream configuration for one of ours: limits retention, discard old, file storage by default. */
export function toJsStreamConfig(config: StreamConfig): Partial<JsStreamConfig> & { name: string } {
  const replicas = config.replicas ?? 1;
  const duplicateWindowMs = config.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
  const maxAgeMs = config.maxAgeMs ?? 0;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) {
    throw invalid(`stream ${config.name}: replicas must be 1 to 5, got ${replicas}`, { replicas });
  }
  if (config.subjects.length === 0) {
    throw invalid(`stream ${config.name}: at least one subject is required`, { subjects: config.subjects });
  }
  if (duplicateWindowMs < 0 || maxAgeMs < 0) {
    throw invalid(`stream ${config.name}: durations must not be negative`, { duplicateWindowMs, maxAgeMs });
  }
  // The server refuses a duplicate window longer than the messages live; say which field is wrong.
  if (maxAgeMs > 0 && duplicateWindowMs > maxAgeMs) {
    throw invalid(
      `stream ${config.name}: duplicateWindowMs (${duplicateWindowMs}) exceeds maxAgeMs (${maxAgeMs})`,
      { duplicateWindowMs, maxAgeMs },
    );
  }
  return {
    name: config.name,
    subjects: [...config.subjects],
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    storage: config.storage === "memory" ? StorageType.Memory : StorageType.File,
    num_replicas: replicas,
    duplicate_window: msToNanos(duplicateWindowMs),
    max_age: msToNanos(maxAgeMs),
    max_msg_size: config.maxMsgSize ?? -1,
  };
}

/** The fields `ensureStream` keeps in line on an existing stream (storage cannot change). */
export function streamNeedsUpdate(current: JsStreamConfig, wanted: Partial<JsStreamConfig>): boolean {
  const sameSubjects =
    current.subjects.length === wanted.subjects?.length &&
    current.subjects.every((s, i) => s === wanted.subjects?.[i]);
  return (
    !sameSubjects ||
    current.num_replicas !== wanted.num_replicas ||
    current.duplicate_window !== wanted.duplicate_window ||
    current.max_age !== wanted.max_age ||
    current.max_msg_size !== wanted.max_msg_size ||
    current.storage !== wanted.storage
  );
}

export function fromJsStreamInfo(info: JsStreamInfo): StreamInfo {
  return {
    name: info.config.name,
    subjects: info.config.subjects ?? [],
    messages: info.state.messages,
    firstSeq: info.state.first_seq,
    lastSeq: info.state.last_seq,
    replicas: info.config.num_replicas,
    duplicateWindowMs: nanosToMs(info.config.duplicate_window),
  };
}

function deliverPolicyFields(
  policy: DeliverPolicy | undefined,
): Pick<JsConsumerConfig, "deliver_policy" | "opt_start_seq" | "opt_start_time"> {
  if (policy === undefined || policy === "all") return { deliver_policy: JsDeliverPolicy.All };
  if (policy === "new") return { deliver_policy: JsDeliverPolicy.New };
  if ("startTime" in policy) {
    return { deliver_policy: JsDeliverPolicy.StartTime, opt_start_time: policy.startTime.toISOString() };
  }
  if (!Number.isInteger(policy.startSequence) || policy.startSequence < 1) {
    throw invalid(`deliverPolicy.startSequence must be a positive integer, got ${policy.startSequence}`, {
      startSequence: policy.startSequence,
    });
  }
  return { deliver_policy: JsDeliverPolicy.StartSequence, opt_start_seq: policy.startSequence };
}

/**
 * A durable pull consumer with explicit ack. Several filter subjects need `filter_subjects`, which only
 * servers from 2.10 know: `multiFilter` says whether the server has it; without it, more than one subject is
 * refused here rather than by a confusing server error (a 2.9 server would ignore the field and deliver
 * every subject of the stream).
 */
export function toJsConsumerConfig(config: ConsumerConfig, multiFilter: boolean): Partial<JsConsumerConfig> {
  const filters = config.filterSubjects ?? [];
  const out: Partial<JsConsumerConfig> = {
    durable_name: config.durable,
    ack_policy: AckPolicy.Explicit,
    ack_wait: msToNanos(config.ackWaitMs ?? DEFAULT_ACK_WAIT_MS),
    max_deliver: config.maxDeliver ?? DEFAULT_MAX_DELIVER,
    max_ack_pending: config.maxAckPending ?? DEFAULT_MAX_ACK_PENDING,
    ...deliverPolicyFields(config.deliverPolicy),
  };
  if (filters.length === 1) out.filter_subject = filters[0];
  else if (filters.length > 1) {
    if (!multiFilter) {
      throw invalid(
        `consumer ${config.durable}: ${filters.length} filter subjects need nats-server 2.10 or newer ` +
          "(filter_subjects); give one subject (a wildcard may cover several) or upgrade the server",
        { filterSubjects: filters },
      );
    }
    out.filter_subjects = [...filters];
  }
  return out;
}

/** The fields of an existing durable that `ensureConsumer` may change; undefined when nothing differs. */
export function consumerUpdate(
  current: JsConsumerConfig,
  wanted: Partial<JsConsumerConfig>,
): Partial<JsConsumerConfig> | undefined {
  const update: Partial<JsConsumerConfig> = {};
  let changed = false;
  if (current.ack_wait !== wanted.ack_wait) {
    update.ack_wait = wanted.ack_wait;
    changed = true;
  }
  if ((current.max_deliver ?? -1) !== wanted.max_deliver) {
    update.max_deliver = wanted.max_deliver;
    changed = true;
  }
  if (current.max_ack_pending !== wanted.max_ack_pending) {
    update.max_ack_pending = wanted.max_ack_pending;
    changed = true;
  }
  const currentFilters = current.filter_subjects ?? (current.filter_subject ? [current.filter_subject] : []);
  const wantedFilters = wanted.filter_subjects ?? (wanted.filter_subject ? [wanted.filter_subject] : []);
  const sameFilters =
    currentFilters.length === wantedFilters.length && currentFilters.every((s, i) => s === wantedFilters[i]);
  if (!sameFilters) {
    if (wanted.filter_subjects) {
      update.filter_subjects = wanted.filter_subjects;
      update.filter_subject = "";
    } else {
      update.filter_subject = wanted.filter_subject ?? "";
      if (current.filter_subjects) update.filter_subjects = [];
    }
    changed = true;
  }
  return changed ? update : undefined;
}

export function fromJsConsumerInfo(info: JsConsumerInfo): ConsumerInfo {
  return {
    stream: info.stream_name,
    durable: info.config.durable_name ?? info.name,
    pending: info.num_pending,
    ackPending: info.num_ack_pending,
    redelivered: info.num_redelivered,
    ackFloor: info.ack_floor.stream_seq,
  };
}

const EMPTY_HEADERS: Headers = Object.freeze({});

/** nats.js headers as a plain record (the first value of each key); an empty frozen record when none. */
export function fromNatsHeaders(h: MsgHdrs | undefined): Headers {
  if (h === undefined) return EMPTY_HEADERS;
  let out: Record<string, string> | undefined;
  for (const [key, values] of h) {
    if (values.length === 0) continue;
    if (out === undefined) out = {};
    out[key] = values[0]!;
  }
  return out ?? EMPTY_HEADERS;
}

/** Our headers (and the msg id) as nats.js headers; undefined when there are none, so none are sent. */
export function toNatsHeaders(h: Record<string, string> | undefined, msgId?: string): MsgHdrs | undefined {
  let out: MsgHdrs | undefined;
  if (h !== undefined) {
    for (const key in h) {
      if (out === undefined) out = natsHeaders();
      out.set(key, h[key]!);
    }
  }
  if (msgId !== undefined) {
    if (out === undefined) out = natsHeaders();
    out.set(MSG_ID_HEADER, msgId);
  }
  return out;
}
