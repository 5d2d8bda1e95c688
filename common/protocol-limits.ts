/**
 * The numbers of PROTOCOL.md, in a module of their own with no imports, so that the client SDK can
 * use them in a browser without the validators of protocol.ts (and their zod).
 */

/** Largest frame a node accepts from a client; bigger frames close the connection with 1009. */
export const MAX_FRAME_BYTES = 2 * 1024 * 1024;
export const MAX_GROUP_MEMBERS = 100;
export const SYNC_DEFAULT_LIMIT = 100;
export const SYNC_MAX_LIMIT = 1000;
export const HISTORY_DEFAULT_LIMIT = 50;
export const HISTORY_MAX_LIMIT = 200;
export const PRESENCE_SUBSCRIBE_MAX = 1000;
/** v1.1: how long a `typing` frame shows its user as typing. */
export const TYPING_SHOWN_MS = 5000;
/** v1.1: a device's `typing` frames per conversation closer together than this are dropped. */
export const TYPING_MIN_INTERVAL_MS = 2000;
