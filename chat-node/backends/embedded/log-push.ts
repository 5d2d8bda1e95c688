/** The log-only push provider: the default when no provider is configured. */
import type { Logger } from '../../../common/logger.ts';
import type { PushNotification, PushProvider } from '../types.ts';

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
