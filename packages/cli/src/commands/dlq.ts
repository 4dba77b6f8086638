import {
  createDeadLetterQueue,
  DEFAULT_DLQ_LIST_LIMIT,
  type DeadLetter,
  type DeadLetterFilter,
  type DeadLetterQueue,
  ErrorCode,
  type ReplayResult,
  SlotwiseError,
  type Transport,
} from "@slotwise/events";
import { createNatsTransport } from "@slotwise/nats";
import type { Command } from "commander";
import { addConnectionOptions, type ConnectionOptions } from "../connection.js";

/** Filter flags shared by `list` and `replay --all`. */
export interface DlqFilterFlags {
  code?: string;
  consumer?: string;
  type?: string;
  subject?: string;
  /** `key=value` entries; keys code, consumer, type, subject. */
  filter?: string[];
}

export interface DlqListFlags extends DlqFilterFlags {
  json?: boolean;
  limit?: string;
  from?: string;
}

export interface DlqReplayFlags extends DlqFilterFlags {
  json?: boolean;
  all?: boolean;
}

/** How the commands reach the world; tests swap the output and may share a transport. */
export interface DlqCommandDeps {
  /** @default a NATS transport on `--nats` */
  connect?: (options: ConnectionOptions) => Promise<Transport>;
  /** @default process.stdout */
  write?: (text: string) => void;
}

const FILTER_KEYS = ["code", "consumer", "type", "subject"] as const;

function invalid(message: string): SlotwiseError {
  return new SlotwiseError(ErrorCode.INVALID_OPTIONS, message);
}

/** One filter from the flags: `--code X` is short for `--filter code=X`. */
export function parseFilter(flags: DlqFilterFlags): DeadLetterFilter {
  const filter: DeadLetterFilter = {};
  for (const entry of flags.filter ?? []) {
    const eq = entry.indexOf("=");
    const key = entry.slice(0, eq);
    if (eq < 1 || !(FILTER_KEYS as readonly string[]).includes(key)) {
      throw invalid(`--filter takes key=value with key one of ${FILTER_KEYS.join(", ")}, got "${entry}"`);
    }
    filter[key as (typeof FILTER_KEYS)[number]] = entry.slice(eq + 1);
  }
  for (const key of FILTER_KEYS) if (flags[key] !== undefined) filter[key] = flags[key];
  return filter;
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    throw invalid(`${flag} takes a positive integer, got "${text}"`);
  }
  return n;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The bytes as text when they are UTF-8, else base64. */
function payload(data: Uint8Array): { data: string; encoding: "utf8" | "base64" } {
  try {
    return { data: utf8.decode(data), encoding: "utf8" };
  } catch {
    return { data: Buffer.from(data).toString("base64"), encoding: "base64" };
  }
}

function asJson(dl: DeadLetter, withData: boolean) {
  const { data, subject: _dlqSubject, time, ...rest } = dl;
  const body = payload(data);
  return {
    ...rest,
    time: time.toISOString(),
    size: data.length,
    ...(withData ? { data: body.data, dataEncoding: body.encoding } : {}),
  };
}

function cut(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/** A plain text table: columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join("\n")}\n`;
}

export async function dlqList(dlq: DeadLetterQueue, flags: DlqListFlags = {}): Promise<string> {
  const letters = await dlq.list({
    limit: flags.limit === undefined ? DEFAULT_DLQ_LIST_LIMIT : positiveInt(flags.limit, "--limit"),
    filter: parseFilter(flags),
    ...(flags.from === undefined ? {} : { fromSeq: positiveInt(flags.from, "--from") }),
  });
  if (flags.json) return `${JSON.stringify(letters.map((dl) => asJson(dl, false)))}\n`;
  if (letters.length === 0) return `no dead letters in ${dlq.stream}\n`;
  return table(
    ["SEQ", "TIME", "CODE", "CONSUMER", "SUBJECT", "DELIVERIES", "MESSAGE"],
    letters.map((dl) => [
      String(dl.seq),
      dl.time.toISOString(),
      dl.code,
      dl.consumer,
      dl.originalSubject,
      String(dl.deliveries),
      cut(dl.attribute ? `[${dl.attribute}] ${dl.message}` : dl.message, 80),
    ]),
  );
}

export async function dlqShow(
  dlq: DeadLetterQueue,
  seqText: string,
  flags: { json?: boolean } = {},
): Promise<string> {
  const seq = positiveInt(seqText, "<seq>");
  const dl = await dlq.show(seq);
  if (dl === undefined) {
    throw new SlotwiseError(ErrorCode.NOT_FOUND, `no dead letter ${seq} in ${dlq.stream}`, {
      details: { seq },
    });
  }
  if (flags.json) return `${JSON.stringify(asJson(dl, true))}\n`;
  const body = payload(dl.data);
  const fields: [string, string][] = [
    ["seq", String(dl.seq)],
    ["time", dl.time.toISOString()],
    ["code", dl.code],
    ["message", dl.message],
    ...(dl.attribute ? ([["attribute", dl.attribute]] as [string, string][]) : []),
    ["consumer", dl.consumer],
    ["deliveries", String(dl.deliveries)],
    ["subject", dl.originalSubject],
    ["stream", `${dl.stream} #${dl.streamSequence}`],
    ...Object.entries(dl.headers).map(([k, v]): [string, string] => [`header ${k}`, v]),
    ["size", `${dl.data.length} bytes`],
  ];
  const width = Math.max(...fields.map(([k]) => k.length));
  const head = fields.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
  return `${head}\n\n${body.encoding === "base64" ? `(not UTF-8, base64)\n${body.data}` : body.data}\n`;
}

export async function dlqReplay(
  dlq: DeadLetterQueue,
  seqText: string | undefined,
  flags: DlqReplayFlags = {},
): Promise<string> {
  const filter = parseFilter(flags);
  let results: ReplayResult[];
  if (flags.all) {
    if (seqText !== undefined) throw invalid("give either <seq> or --all, not both");
    results = await dlq.replayAll(filter);
  } else {
    if (seqText === undefined) throw invalid("give the <seq> of a dead letter, or --all");
    if (Object.keys(filter).length > 0) throw invalid("filters apply to --all only");
    const seq = positiveInt(seqText, "<seq>");
    const result = await dlq.replay(seq);
    if (result === undefined) {
      throw new SlotwiseError(
        ErrorCode.NOT_FOUND,
        `no dead letter ${seq} in ${dlq.stream} (already replayed?)`,
        { details: { seq } },
      );
    }
    results = [result];
  }
  if (flags.json) {
    return `${JSON.stringify(
      results.map((r) => ({
        seq: r.seq,
        subject: r.subject,
        msgId: r.msgId,
        stream: r.ack.stream,
        streamSequence: r.ack.seq,
        duplicate: r.ack.duplicate,
        code: r.deadLetter.code,
      })),
    )}\n`;
  }
  if (results.length === 0) return `nothing to replay in ${dlq.stream}\n`;
  return table(
    ["SEQ", "CODE", "SUBJECT", "REPUBLISHED"],
    results.map((r) => [
      String(r.seq),
      r.deadLetter.code,
      r.subject,
      r.ack.duplicate ? "duplicate (replayed before)" : `${r.ack.stream} #${r.ack.seq}`,
    ]),
  );
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function addFilterOptions(cmd: Command): Command {
  return cmd
    .option("--code <code>", "only this error code (e.g. SCHEMA_VIOLATION)")
    .option("--consumer <name>", "only this consumer (durable)")
    .option("--type <type>", "only this event type")
    .option("--subject <text>", "only original subjects containing this text")
    .option("--filter <key=value>", "filter by code, consumer, type or subject (repeatable)", collect);
}

export function registerDlq(program: Command, deps: DlqCommandDeps = {}): void {
  const connect =
    deps.connect ??
    ((o: ConnectionOptions) => createNatsTransport({ servers: o.nats ?? "nats://127.0.0.1:4222" }));
  const write = deps.write ?? ((text: string) => void process.stdout.write(text));
  /** Runs `fn` on the env's DLQ and writes its output; the transport is closed after. */
  const withQueue = async (opts: ConnectionOptions, fn: (dlq: DeadLetterQueue) => Promise<string>) => {
    const transport = await connect(opts);
    try {
      write(await fn(createDeadLetterQueue({ transport, env: opts.env })));
    } finally {
      await transport.close();
    }
  };

  const dlq = program
    .command("dlq")
    .description("dead letters of an environment ({ENV}_DLQ): list, show, replay");

  addConnectionOptions(
    addFilterOptions(
      dlq
        .command("list")
        .description("list dead letters, oldest first")
        .option("--json", "print JSON (one array) instead of a table")
        .option("--limit <n>", "at most this many", String(DEFAULT_DLQ_LIST_LIMIT))
        .option("--from <seq>", "start at this DLQ sequence (paging)"),
    ),
  ).action((opts: DlqListFlags & ConnectionOptions) => withQueue(opts, (q) => dlqList(q, opts)));

  addConnectionOptions(
    dlq
      .command("show")
      .description("one dead letter: where and why it failed, its headers and its original bytes")
      .argument("<seq>", "sequence in the DLQ stream (see `dlq list`)")
      .option("--json", "print JSON (data as text, or base64 when not UTF-8)"),
  ).action((seq: string, opts: { json?: boolean } & ConnectionOptions) =>
    withQueue(opts, (q) => dlqShow(q, seq, opts)),
  );

  addConnectionOptions(
    addFilterOptions(
      dlq
        .command("replay")
        .description(
          "republish dead letters to their original subject, then delete them; a second replay finds nothing",
        )
        .argument("[seq]", "sequence in the DLQ stream")
        .option("--all", "every dead letter (matching the filters)")
        .option("--json", "print JSON"),
    ),
  ).action((seq: string | undefined, opts: DlqReplayFlags & ConnectionOptions) =>
    withQueue(opts, (q) => dlqReplay(q, seq, opts)),
  );
}
