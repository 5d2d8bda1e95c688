import { describe, expect, it } from 'vitest';
import { ChatClientError } from '../../client/errors.ts';
import { PendingSends } from '../../client/pending-sends.ts';

const frame = (id: string) => ({ type: 'send' as const, id, to: 'bob', text: `text ${id}` });
const sent = (id: string) => ({ type: 'sent' as const, id, messageId: '1', conversation: 'dm:a:b', ts: 1 });

describe('PendingSends', () => {
  it('hands out no more unanswered sends than the window holds', () => {
    const pending = new PendingSends(10, 2);
    for (const id of ['a', 'b', 'c']) void pending.add(frame(id));
    expect(pending.takeWritable().map((f) => f.id)).toEqual(['a', 'b']);
    expect(pending.takeWritable()).toEqual([]);
  });

  it('resolves a send with its answer and makes room for the next one', async () => {
    const pending = new PendingSends(10, 1);
    const a = pending.add(frame('a'));
    void pending.add(frame('b'));
    pending.takeWritable();
    expect(pending.resolve(sent('a'))?.id).toBe('a');
    await expect(a).resolves.toMatchObject({ id: 'a' });
    expect(pending.takeWritable().map((f) => f.id)).toEqual(['b']);
  });

  it('keeps a send that failed out of every flush until its backoff is over', () => {
    const pending = new PendingSends(10, 10);
    for (const id of ['a', 'b']) void pending.add(frame(id));
    pending.takeWritable(1000);
    expect(pending.retry('a', 5, (n) => n * 100, 1000)).toBe(1);
    expect(pending.nextDue()).toBe(1100);
    void pending.add(frame('c'));
    expect(pending.takeWritable(1050).map((f) => f.id)).toEqual(['c']);
    expect(pending.takeWritable(1100).map((f) => f.id)).toEqual(['a']);
    expect(pending.nextDue()).toBeUndefined();
    // The second failure waits longer; past maxFailures the caller is told to give up.
    expect(pending.retry('a', 2, (n) => n * 100, 2000)).toBe(2);
    expect(pending.nextDue()).toBe(2200);
    expect(pending.retry('a', 2, (n) => n * 100, 3000)).toBeUndefined();
  });

  it('ignores the answer to a send it no longer holds', () => {
    expect(new PendingSends(10, 1).resolve(sent('ghost'))).toBeUndefined();
  });

  it('hands every unanswered send out again, in order, after a rewind', () => {
    const pending = new PendingSends(10, 5);
    for (const id of ['a', 'b', 'c']) void pending.add(frame(id));
    pending.takeWritable();
    pending.resolve(sent('b'));
    pending.rewind();
    expect(pending.takeWritable().map((f) => f.id)).toEqual(['a', 'c']);
  });

  it('refuses a send beyond its capacity with queue_full', async () => {
    const pending = new PendingSends(1, 1);
    void pending.add(frame('a'));
    await expect(pending.add(frame('b'))).rejects.toMatchObject({ code: 'queue_full' });
  });

  it('refuses a second send with the id of one still waiting with duplicate_id', async () => {
    const pending = new PendingSends(5, 1);
    void pending.add(frame('a'));
    await expect(pending.add(frame('a'))).rejects.toMatchObject({ code: 'duplicate_id' });
  });

  it('hands nothing out while paused, and calls back when the pause ends', async () => {
    const pending = new PendingSends(5, 5);
    void pending.add(frame('a'));
    let resumed = false;
    pending.pause(20, () => {
      resumed = true;
    });
    expect(pending.takeWritable()).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(resumed).toBe(true);
    expect(pending.takeWritable().map((f) => f.id)).toEqual(['a']);
  });

  it('rejects everything waiting on rejectAll', async () => {
    const pending = new PendingSends(5, 5);
    const a = pending.add(frame('a'));
    pending.rejectAll(new ChatClientError('closed', 'closed'));
    await expect(a).rejects.toMatchObject({ name: 'ChatClientError', code: 'closed' });
    expect(pending.size).toBe(0);
  });
});
