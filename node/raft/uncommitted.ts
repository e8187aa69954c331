/**
 * Leader: the bytes of its own proposals (entries of its term) that are not committed yet,
 * for the maxUncommittedBytes bound. Freed exactly as commit passes them, so entries of an
 * earlier term (never counted here) cannot free budget, and a slow state machine does not
 * hold proposals back. Cleared on every role or term change (Raft.reset).
 */
export class Uncommitted {
  /** Sum of the sizes still held. */
  bytes = 0;
  private indexes: number[] = [];
  private sizes: number[] = [];
  private head = 0;

  /** A proposal of `size` bytes was appended at `index` (indexes only grow). */
  add(index: number, size: number): void {
    if (size === 0) return;
    this.indexes.push(index);
    this.sizes.push(size);
    this.bytes += size;
  }

  /** Commit reached `index`: frees every proposal at or below it. */
  commitTo(index: number): void {
    while (this.head < this.indexes.length && this.indexes[this.head]! <= index) {
      this.bytes -= this.sizes[this.head]!;
      this.head++;
    }
    if (this.head === this.indexes.length) this.reset();
    else if (this.head >= 1024 && this.head * 2 >= this.indexes.length) {
      // Drop the consumed prefix now and then, so memory follows what is actually held.
      this.indexes = this.indexes.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
  }

  reset(): void {
    this.bytes = 0;
    this.indexes = [];
    this.sizes = [];
    this.head = 0;
  }
}
