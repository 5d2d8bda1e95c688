/** What a device's notification says, the same for every push service. */
import type { PushNotification } from '../types.ts';

/** The title and text shown, and the data the app gets to open the conversation. */
export function pushContent(n: PushNotification): {
  title: string;
  body: string;
  data: { messageId: string; conversation: string; from: string };
} {
  return {
    title: 'New message',
    body: n.preview,
    data: { messageId: n.messageId, conversation: n.conversation, from: n.from },
  };
}
