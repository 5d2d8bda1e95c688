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
    expect(pending.resolve(sent('a'))).toBe(true);
    await expect(a).resolves.toMatchObject({ id: 'a' });
    expect(pending.takeWritable().map((f) => f.id)).toEqual(['b']);
  });

  it('ignores the answer to a send it no longer holds', () => {
    expect(new PendingSends(10, 1).resolve(sent('ghost'))).toBe(false);
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
