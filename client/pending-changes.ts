/**
 * Edits and deletes waiting for their `updated`: each has a frame id; an unanswered one is written
 * again after a reconnect (an edit repeated sets the same text again; a delete repeated after it was
 * applied answers `not_found`, which resolves it as done).
 */
import type { ClientId, DeleteFrame, EditFrame, UpdatedFrame } from '../common/protocol.ts';
import type { ChatClientError } from './errors.ts';

type ChangeFrame = EditFrame | DeleteFrame;

interface Pending {
  frame: ChangeFrame;
  resolve(frame: UpdatedFrame): void;
  reject(error: Error): void;
  written: boolean;
  /** Written on an earlier connection: a `not_found` may mean it was applied there. */
  rewritten: boolean;
}

export class PendingChanges {
  private readonly byId = new Map<string, Pending>();
  private next = 0;

  add(frame: Omit<EditFrame, 'id'> | Omit<DeleteFrame, 'id'>): {
    frame: ChangeFrame;
    answered: Promise<UpdatedFrame>;
  } {
    const id = `change.${++this.next}`;
    const full = { ...frame, id } as ChangeFrame;
    const answered = new Promise<UpdatedFrame>((resolve, reject) => {
      this.byId.set(id, { frame: full, resolve, reject, written: false, rewritten: false });
    });
    return { frame: full, answered };
  }

  /** The frames to write on a (new) connection: every unanswered one. */
  unanswered(): ChangeFrame[] {
    return [...this.byId.values()].map((p) => {
      if (p.written) p.rewritten = true;
      p.written = true;
      return p.frame;
    });
  }

  written(id: ClientId | undefined): void {
    const p = this.byId.get(String(id));
    if (p) p.written = true;
  }

  /** True when the `updated` was for one of these. */
  resolve(frame: UpdatedFrame): boolean {
    const p = frame.id === undefined ? undefined : this.byId.get(String(frame.id));
    if (!p) return false;
    this.byId.delete(String(frame.id));
    p.resolve(frame);
    return true;
  }

  /** True when the error was for one of these (a repeated delete's `not_found` counts as done). */
  reject(id: ClientId | undefined, error: ChatClientError): boolean {
    const p = id === undefined ? undefined : this.byId.get(String(id));
    if (!p) return false;
    this.byId.delete(String(id));
    if (p.rewritten && p.frame.type === 'delete' && error.code === 'not_found') {
      p.resolve({ type: 'updated', id: p.frame.id, messageId: p.frame.messageId, updateId: '0' });
    } else p.reject(error);
    return true;
  }

  rejectAll(error: Error): void {
    for (const p of this.byId.values()) p.reject(error);
    this.byId.clear();
  }
}
