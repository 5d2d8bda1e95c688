/** The JSON webhook push provider (the body is the contract in docs/protocol-notes.md). */
import type { PushNotification, PushProvider } from '../types.ts';

/** POSTs each notification as JSON; any answer but 2xx (or no answer in `timeoutMs`) is a failure. */
export class WebhookPush implements PushProvider {
  readonly name = 'webhook';
  private readonly url: string;
  private readonly timeoutMs: number;

  constructor(url: string, timeoutMs = 5000) {
    this.url = url;
    this.timeoutMs = timeoutMs;
  }

  async send(n: PushNotification): Promise<void> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        userId: n.userId,
        messageId: n.messageId,
        conversation: n.conversation,
        from: n.from,
        preview: n.preview,
      }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`push webhook answered ${res.status}`);
  }
}
