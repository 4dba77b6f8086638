/**
 * The messages of one stream, indexed by sequence: O(1) append, lookup and delete, with the front trimmed
 * as messages age out. Deleted slots in the middle stay as holes until the front reaches them, so memory is
 * bounded by the span of live sequences.
 */
export class SeqLog<T> {
  private items: (T | undefined)[] = [];
  /** Sequence of `items[0]`. */
  private base = 1;
  /** Index of the first slot that may hold a live item. */
  private head = 0;
  private live = 0;

  /** Live items. */
  get size(): number {
    return this.live;
  }

  /** The sequence the next `append` gets. */
  get nextSeq(): number {
    return this.base + this.items.length;
  }

  /** Appends at `nextSeq` and returns that sequence. */
  append(item: T): number {
    const seq = this.nextSeq;
    this.items.push(item);
    this.live++;
    return seq;
  }

  get(seq: number): T | undefined {
    const i = seq - this.base;
    if (i < this.head || i >= this.items.length) return undefined;
    return this.items[i];
  }

  /** The first live item, or undefined. */
  first(): T | undefined {
    return this.live === 0 ? undefined : this.items[this.head];
  }

  /** Sequence of the first live item, or undefined when empty. */
  firstSeq(): number | undefined {
    return this.live === 0 ? undefined : this.base + this.head;
  }

  delete(seq: number): T | undefined {
    const i = seq - this.base;
    if (i < this.head || i >= this.items.length) return undefined;
    const item = this.items[i];
    if (item === undefined) return undefined;
    this.items[i] = undefined;
    this.live--;
    if (i === this.head) this.advanceHead();
    return item;
  }

  private advanceHead(): void {
    while (this.head < this.items.length && this.items[this.head] === undefined) this.head++;
    // Compact once the dead front is large and more than half the array: amortized O(1) per item.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.base += this.head;
      this.head = 0;
    }
  }
}
