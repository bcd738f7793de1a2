import { detachedCopy } from '../hl7/detached-copy.js';
import type { Completion } from '../store/message-store.js';

/** An open MLLP connection an enhanced-mode application ACK can be written to. */
export interface ReplyConnection {
  /**
   * Writes one framed reply.
   * @returns False when the connection has closed, so nothing was written.
   */
  send(text: string): boolean;
}

/**
 * In-process meeting point between the accept side and the processing worker: an original-mode ACK
 * waits here for the outcome of its message, and the worker finds the connection an application ACK
 * goes back on. Keys are message ids as hex strings. Entries live only as long as this process, so
 * after a restart the worker falls back to the channel's return address.
 */
export class OutcomeHub {
  private readonly waiters = new Map<string, ((completion: Completion) => void)[]>();
  private readonly connections = new Map<string, ReplyConnection>();

  /**
   * Waits for the final outcome of a message.
   * @returns The completion, or undefined when `timeoutMs` passed first.
   */
  waitFor(id: string, timeoutMs: number): Promise<Completion | undefined> {
    return new Promise((resolve) => {
      const list = this.waiters.get(id) ?? [];
      const onSettled = (completion: Completion): void => {
        clearTimeout(timer);
        resolve(completion);
      };
      const timer = setTimeout(() => {
        const remaining = (this.waiters.get(id) ?? []).filter((waiter) => waiter !== onSettled);
        if (remaining.length === 0) {
          this.waiters.delete(id);
        } else {
          this.waiters.set(id, remaining);
        }
        resolve(undefined);
      }, timeoutMs);
      list.push(onSettled);
      this.waiters.set(id, list);
    });
  }

  /** Hands the final outcome of a message to everyone waiting for it. */
  settle(id: string, completion: Completion): void {
    const list = this.waiters.get(id) ?? [];
    this.waiters.delete(id);
    this.connections.delete(id);
    for (const waiter of list) {
      waiter(completion);
    }
  }

  /**
   * Remembers the connection a message arrived on, for its application ACK. The key is stored as a
   * flat copy, because bson's `ObjectId.toHexString()` joins twelve 2-character strings with `+`, and
   * V8 keeps the result as a chain of string objects until something flattens it.
   */
  registerConnection(id: string, connection: ReplyConnection): void {
    this.connections.set(detachedCopy(id), connection);
  }

  /** Returns the connection a message arrived on, if this process accepted it. */
  connectionOf(id: string): ReplyConnection | undefined {
    return this.connections.get(id);
  }
}
