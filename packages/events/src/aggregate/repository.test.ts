import { describe, expect, it } from "vitest";
import { z } from "zod";
import { type CloudEvent, defineEvent } from "../envelope/index.js";
import { ConcurrencyError, ErrorCode, isSlotwiseError, SlotwiseError } from "../errors/index.js";
import type { EventStore, ReadOptions } from "../store/event-store.js";
import { createMemoryEventStore, createMemorySnapshotStore } from "../store/index.js";
import type { SnapshotStore } from "../store/snapshot-store.js";
import { AggregateRoot } from "./aggregate-root.js";
import { defineAggregate } from "./definition.js";
import { DomainError } from "./domain-error.js";
import { createRepository, type Repository } from "./repository.js";

// A small account aggregate: opened, deposited (many), closed; no deposit after closing.
const Opened = defineEvent({ type: "test.account.opened.v1", schema: z.object({ owner: z.string() }) });
const Deposited = defineEvent({
  type: "test.account.deposited.v1",
  schema: z.object({ amount: z.number().int().positive() }),
});
const Closed = defineEvent({ type: "test.account.closed.v1", schema: z.object({}) });

type AccountState = { status: "none" } | { status: "open" | "closed"; owner: string; balance: number };
type AccountCommand =
  | { type: "Open"; owner: string }
  | { type: "Deposit"; amount: number }
  | { type: "Close" }
  | { type: "Noop" };

const account = defineAggregate<AccountState, AccountCommand>({
  type: "account",
  initialState: () => ({ status: "none" }),
  evolve(state, event) {
    if (Opened.is(event)) return { status: "open", owner: event.data.owner, balance: 0 };
    if (state.status === "none") return state;
    if (Deposited.is(event)) return { ...state, balance: state.balance + event.data.amount };
    if (Closed.is(event)) return { ...state, status: "closed" };
    return state;
  },
  decide(command, state, { id }) {
    const source = "account-service";
    switch (command.type) {
      case "Open":
        if (state.status !== "none") throw new DomainError("ACCOUNT_EXISTS", `account ${id} exists`);
        return [Opened.create({ source, subject: id, data: { owner: command.owner } })];
      case "Deposit":
        if (state.status !== "open") throw new DomainError("ACCOUNT_NOT_OPEN", `account ${id} is not open`);
        return [Deposited.create({ source, subject: id, data: { amount: command.amount } })];
      case "Close":
        if (state.status !== "open") throw new DomainError("ACCOUNT_NOT_OPEN", `account ${id} is not open`);
        return [Closed.create({ source, subject: id, data: {} })];
      case "Noop":
        return [];
    }
  },
});

class Account extends AggregateRoot<AccountState, AccountCommand> {
  constructor(id: string) {
    super(id, account);
  }
  deposit(amount: number) {
    return this.execute({ type: "Deposit", amount });
  }
  get balance(): number {
    return this.state.status === "none" ? 0 : this.state.balance;
  }
}

const balanceOf = (state: AccountState) => (state.status === "none" ? 0 : state.balance);

/** Wraps a store to count and optionally sabotage calls. */
function spyStore(
  inner: EventStore,
  hooks: { beforeAppend?: (attempt: number) => Promise<void> | void } = {},
): EventStore & { appends: number; reads: (ReadOptions | undefined)[] } {
  const spy = {
    ...inner,
    appends: 0,
    reads: [] as (ReadOptions | undefined)[],
    async append(
      streamId: string,
      events: readonly CloudEvent[],
      options?: Parameters<EventStore["append"]>[2],
    ) {
      spy.appends++;
      await hooks.beforeAppend?.(spy.appends);
      return inner.append(streamId, events, options);
    },
    async read(streamId: string, options?: ReadOptions) {
      spy.reads.push(options);
      return inner.read(streamId, options);
    },
  };
  return spy;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("repository: load and save", () => {
  it("loads an unknown id as a new aggregate at version 0", async () => {
    const repo = createRepository({ store: createMemoryEventStore(), definition: account });
    const a = await repo.load("a1");
    expect(a.version).toBe(0);
    expect(a.state).toEqual({ status: "none" });
    expect(a.streamId).toBe("account-a1");
    expect(repo.streamId("a1")).toBe("account-a1");
  });

  it("saves raised events to the aggregate's stream and loads them back by replay", async () => {
    const store = createMemoryEventStore();
    const repo = createRepository({ store, definition: account });
    const a = await repo.load("a1");
    a.execute({ type: "Open", owner: "ann" });
    a.execute({ type: "Deposit", amount: 5 });
    expect(a.uncommittedEvents).toHaveLength(2);
    const saved = await repo.save(a);
    expect(saved.version).toBe(2);
    expect(saved.events.map((e) => e.type)).toEqual(["test.account.opened.v1", "test.account.deposited.v1"]);
    expect(a.uncommittedEvents).toEqual([]);
    expect(a.committedVersion).toBe(2);

    const stored = await store.read("account-a1");
    expect(stored.map((s) => [s.streamVersion, s.event.type, s.event.subject])).toEqual([
      [1, "test.account.opened.v1", "a1"],
      [2, "test.account.deposited.v1", "a1"],
    ]);
    const again = await repo.load("a1");
    expect(again.version).toBe(2);
    expect(again.state).toEqual({ status: "open", owner: "ann", balance: 5 });
  });

  it("saves nothing when nothing was raised", async () => {
    const store = spyStore(createMemoryEventStore());
    const repo = createRepository({ store, definition: account });
    expect(await repo.save(await repo.load("a1"))).toEqual({ version: 0, events: [] });
    expect(store.appends).toBe(0);
  });

  it("appends with the loaded version as expected version: a stale copy gets the ConcurrencyError unchanged", async () => {
    const store = createMemoryEventStore();
    const repo = createRepository({ store, definition: account });
    await repo.handle("a1", (a) => a.execute({ type: "Open", owner: "ann" }));
    const first = await repo.load("a1");
    const second = await repo.load("a1");
    first.execute({ type: "Deposit", amount: 1 });
    second.execute({ type: "Deposit", amount: 2 });
    await repo.save(first);
    const error = await repo.save(second).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConcurrencyError);
    expect(error).toMatchObject({
      code: "CONCURRENCY_CONFLICT",
      streamId: "account-a1",
      expected: 1,
      actual: 2,
    });
    expect(second.uncommittedEvents).toHaveLength(1); // not marked committed
    expect(balanceOf((await repo.load("a1")).state)).toBe(1);
  });

  it("refuses to save an event whose subject is not the aggregate id", async () => {
    const store = spyStore(createMemoryEventStore());
    const repo = createRepository({ store, definition: account });
    const foreign = defineAggregate<AccountState, AccountCommand>({
      ...account,
      decide: (c, s) => account.decide(c, s, { id: "other", version: 0 }),
    });
    const wrong = new AggregateRoot<AccountState, AccountCommand>("a1", foreign);
    wrong.execute({ type: "Open", owner: "x" });
    await expect(repo.save(wrong)).rejects.toMatchObject({
      code: ErrorCode.INVALID_ENVELOPE,
      details: { attribute: "subject", expected: "a1", actual: "other" },
    });
    expect(store.appends).toBe(0);
  });

  it("builds aggregates of a class from its factory", async () => {
    const repo = createRepository({ store: createMemoryEventStore(), factory: (id) => new Account(id) });
    await repo.handle("a1", (a) => a.execute({ type: "Open", owner: "ann" }));
    const { aggregate } = await repo.handle("a1", (a) => a.deposit(7));
    expect(aggregate).toBeInstanceOf(Account);
    expect(aggregate.balance).toBe(7);
    expect((await repo.load("a1")).balance).toBe(7);
  });
});

describe("repository: handle (the command handler)", () => {
  it("loads, decides, appends and returns the committed aggregate and the command's result", async () => {
    const repo = createRepository({ store: createMemoryEventStore(), definition: account });
    const opened = await repo.handle("a1", (a) => a.execute({ type: "Open", owner: "ann" }).length);
    expect(opened).toMatchObject({ version: 1, result: 1, attempts: 1 });
    expect(opened.aggregate.uncommittedEvents).toEqual([]);
    const deposited = await repo.handle("a1", async (a) => {
      a.execute({ type: "Deposit", amount: 3 });
    });
    expect(deposited.version).toBe(2);
    expect(deposited.events.map((e) => e.type)).toEqual(["test.account.deposited.v1"]);
  });

  it("appends nothing for a command that raises nothing", async () => {
    const store = spyStore(createMemoryEventStore());
    const repo = createRepository({ store, definition: account });
    const result = await repo.handle("a1", (a) => a.execute({ type: "Noop" }));
    expect(result).toMatchObject({ version: 0, events: [], attempts: 1 });
    expect(store.appends).toBe(0);
  });

  it("retries on a version conflict, deciding again on the fresh state", async () => {
    const store = createMemoryEventStore();
    const repo = createRepository({ store, definition: account });
    await repo.handle("a1", (a) => a.execute({ type: "Open", owner: "ann" }));
    const seenBalances: number[] = [];
    const result = await repo.handle("a1", async (a) => {
      seenBalances.push(balanceOf(a.state));
      // Another writer commits between this load and this save, once.
      if (seenBalances.length === 1)
        await repo.handle("a1", (b) => b.execute({ type: "Deposit", amount: 10 }));
      a.execute({ type: "Deposit", amount: 1 });
    });
    expect(result.attempts).toBe(2);
    expect(seenBalances).toEqual([0, 10]);
    expect(result.version).toBe(3);
    expect(balanceOf((await repo.load("a1")).state)).toBe(11);
  });

  it("lets concurrent commands on one aggregate all land, each exactly once", async () => {
    const store = createMemoryEventStore();
    const repo = createRepository({ store, definition: account, maxRetries: 20 });
    await repo.handle("a1", (a) => a.execute({ type: "Open", owner: "ann" }));
    const results = await Promise.all(
      Array.from({ length: 8 }, () => repo.handle("a1", (a) => a.execute({ type: "Deposit", amount: 1 }))),
    );
    expect(results.some((r) => r.attempts > 1)).toBe(true);
    const stored = await store.read("account-a1");
    expect(stored.map((s) => s.streamVersion)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(balanceOf((await repo.load("a1")).state)).toBe(8);
  });

  it("gives up after maxRetries and throws the ConcurrencyError", async () => {
    const inner = createMemoryEventStore();
    const store = spyStore(inner, {
      // Someone else always wins the race: append a competing event right before ours.
      beforeAppend: async () => {
        await inner.append("account-a1", [
          Deposited.create({ source: "x", subject: "a1", data: { amount: 1 } }),
        ]);
      },
    });
    await inner.append("account-a1", [Opened.create({ source: "x", subject: "a1", data: { owner: "ann" } })]);
    const repo = createRepository({ store, definition: account, maxRetries: 2 });
    const error = await repo
      .handle("a1", (a) => a.execute({ type: "Deposit", amount: 5 }))
      .catch((e: unknown) => e);
    expect(isSlotwiseError(error, ErrorCode.CONCURRENCY_CONFLICT)).toBe(true);
    expect(store.appends).toBe(3);
  });

  it("never retries a refused command", async () => {
    const store = spyStore(createMemoryEventStore());
    const repo = createRepository({ store, definition: account });
    let calls = 0;
    const error = await repo
      .handle("a1", (a) => {
        calls++;
        a.execute({ type: "Deposit", amount: 1 });
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ code: ErrorCode.DOMAIN_RULE_VIOLATED, rule: "ACCOUNT_NOT_OPEN" });
    expect(calls).toBe(1);
    expect(store.appends).toBe(0);
  });

  it("never retries other store failures", async () => {
    const store = spyStore(createMemoryEventStore(), {
      beforeAppend: () => {
        throw new SlotwiseError(ErrorCode.UNAVAILABLE, "database down");
      },
    });
    const repo = createRepository({ store, definition: account, maxRetries: 5 });
    await expect(repo.handle("a1", (a) => a.execute({ type: "Open", owner: "ann" }))).rejects.toMatchObject({
      code: ErrorCode.UNAVAILABLE,
    });
    expect(store.appends).toBe(1);
  });
});

describe("repository: snapshots", () => {
  async function depositMany(repo: Repository<AggregateRoot<AccountState, AccountCommand>>, n: number) {
    for (let i = 0; i < n; i++) await repo.handle("a1", (a) => a.execute({ type: "Deposit", amount: 1 }));
  }

  it("saves a snapshot each time the version crosses a multiple of `every`", async () => {
    const snapshots = createMemorySnapshotStore();
    const repo = createRepository({
      store: createMemoryEventStore(),
      definition: account,
      snapshots: { store: snapshots, every: 3 },
    });
    await repo.handle("a1", (a) => a.execute({ type: "Open", owner: "ann" }));
    await depositMany(repo, 1);
    expect(await snapshots.load("account-a1")).toBeUndefined();
    await depositMany(repo, 1); // version 3
    expect(await snapshots.load("account-a1")).toMatchObject({ version: 3, schemaVersion: 1 });
    // One save that jumps from 3 to 7 crosses 6: the snapshot is taken at 7, what the aggregate holds.
    await repo.handle("a1", (a) => {
      for (let i = 0; i < 4; i++) a.execute({ type: "Deposit", amount: 1 });
    });
    expect(await snapshots.load("account-a1")).toMatchObject({
      version: 7,
      state: { status: "open", owner: "ann", balance: 6 },
    });
  });

  it("loads from the snapshot plus the events after it", async () => {
    const store = spyStore(createMemoryEventStore());
    const snapshots = createMemorySnapshotStore();
    const repo = createRepository({ store, definition: account, snapshots: { store: snapshots, every: 5 } });
    await repo.handle("a1", (a) => a.execute({ type: "Open", owner: "ann" }));
    await depositMany(repo, 6); // snapshot at 5, stream at 7
    store.reads.length = 0;
    const a = await repo.load("a1");
    expect(store.reads).toEqual([{ fromVersion: 6 }]);
    expect(a.version).toBe(7);
    expect(a.state).toEqual({ status: "open", owner: "ann", balance: 6 });
    // The snapshot is a cache: the same answer as a full replay.
    const plain = createRepository({ store, definition: account });
    expect((await plain.load("a1")).state).toEqual(a.state);
  });

  it("ignores a snapshot of another schema version and replays everything", async () => {
    const store = spyStore(createMemoryEventStore());
    const snapshots = createMemorySnapshotStore();
    const v1 = createRepository({ store, definition: account, snapshots: { store: snapshots, every: 2 } });
    await v1.handle("a1", (a) => a.execute({ type: "Open", owner: "ann" }));
    await v1.handle("a1", (a) => a.execute({ type: "Deposit", amount: 2 }));
    expect(await snapshots.load("account-a1")).toMatchObject({ version: 2, schemaVersion: 1 });
    const v2 = createRepository({
      store,
      definition: account,
      snapshots: { store: snapshots, every: 2, schemaVersion: 2 },
    });
    store.reads.length = 0;
    const a = await v2.load("a1");
    expect(store.reads).toEqual([undefined]);
    expect(a.state).toEqual({ status: "open", owner: "ann", balance: 2 });
  });

  it("keeps loads and saves working when the snapshot store fails, and reports it", async () => {
    const failing: SnapshotStore = {
      load: async () => {
        throw new Error("snapshot table missing");
      },
      save: async () => {
        throw new Error("snapshot disk full");
      },
      close: async () => {},
    };
    const reported: unknown[] = [];
    const repo = createRepository({
      store: createMemoryEventStore(),
      definition: account,
      snapshots: { store: failing, every: 1, onError: (error, ctx) => reported.push([String(error), ctx]) },
    });
    const result = await repo.handle("a1", (a) => a.execute({ type: "Open", owner: "ann" }));
    expect(result.version).toBe(1);
    expect(reported).toEqual([
      ["Error: snapshot table missing", { streamId: "account-a1", version: 0 }],
      ["Error: snapshot disk full", { streamId: "account-a1", version: 1 }],
    ]);
    // Loading still works, by replay.
    expect((await repo.load("a1")).state).toEqual({ status: "open", owner: "ann", balance: 0 });
  });
});

describe("repository: loadAsOf (temporal query)", () => {
  it("returns the aggregate as it was at a time", async () => {
    let now = Date.parse("2030-01-01T10:00:00.000Z");
    const store = createMemoryEventStore({ clock: () => new Date(now) });
    const repo = createRepository({ store, definition: account });
    await repo.handle("a1", (a) => a.execute({ type: "Open", owner: "ann" })); // 10:00
    now += 60_000;
    await repo.handle("a1", (a) => a.execute({ type: "Deposit", amount: 4 })); // 10:01
    now += 60_000;
    await repo.handle("a1", (a) => a.execute({ type: "Close" })); // 10:02

    const before = await repo.loadAsOf("a1", new Date("2030-01-01T09:59:59.000Z"));
    expect(before.version).toBe(0);
    const opened = await repo.loadAsOf("a1", new Date("2030-01-01T10:00:30.000Z"));
    expect(opened.version).toBe(1);
    expect(opened.state).toEqual({ status: "open", owner: "ann", balance: 0 });
    const deposited = await repo.loadAsOf("a1", new Date("2030-01-01T10:01:00.000Z"));
    expect(deposited.state).toEqual({ status: "open", owner: "ann", balance: 4 });
    expect((await repo.load("a1")).state.status).toBe("closed");
  });
});

describe("repository: options", () => {
  it("refuses contradictory or out-of-range options, naming the field", () => {
    const store = createMemoryEventStore();
    const snapshots = createMemorySnapshotStore();
    const bad = [
      { store, definition: account, maxRetries: -1 },
      { store, definition: account, maxRetries: 1.5 },
      { store, definition: account, retryDelayMs: -5 },
      { store, definition: account, snapshots: { store: snapshots, every: 0 } },
      { store, definition: account, snapshots: { store: snapshots, every: 2, schemaVersion: 0 } },
    ];
    for (const options of bad) {
      expect(
        thrown(() => createRepository(options)),
        JSON.stringify(options.maxRetries),
      ).toMatchObject({
        code: ErrorCode.INVALID_OPTIONS,
      });
    }
    expect(() => createRepository({ store, definition: undefined as unknown as typeof account })).toThrow(
      /definition or a factory/,
    );
  });

  it("refuses an aggregate type that cannot name a stream", () => {
    expect(thrown(() => defineAggregate({ ...account, type: "Bad Type" }))).toMatchObject({
      code: ErrorCode.INVALID_OPTIONS,
      details: { field: "type" },
    });
  });
});
