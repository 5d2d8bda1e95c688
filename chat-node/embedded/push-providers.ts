/** Push providers: a JSON webhook (DESIGN.md's contract) and a log-only default. */
import type { Logger } from 'pino';
import type { PushNotification, PushProvider } from '../backends/types.ts';

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

/** Logs each notification at debug level: the default when no provider is configured. */
export class LogPush implements PushProvider {
  readonly name = 'log';
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  async send(n: PushNotification): Promise<void> {
    this.log.debug(
      { push: { userId: n.userId, messageId: n.messageId, conversation: n.conversation } },
      'push',
    );
  }
}
