/**
 * In-process presence: devices per user with their last activity. A user is online while any device
 * is; a device that has been silent for `expireMs` (3 heartbeats) is dropped by a sweep, the same
 * rule the Redis backend enforces with key expiry.
 */
import type { PresenceInfo } from '../../../common/protocol.ts';
import type { PresenceBackend } from '../types.ts';

/**
 * A user's devices online with their last activity: most users have one, kept in two fields; a Map
 * is made for a second device.
 */
interface UserState {
  /** The one device online (when `devices` is undefined), or undefined. */
  device: string | undefined;
  deviceAt: number;
  /** deviceId → last activity, once the user has had two devices online at once. */
  devices: Map<string, number> | undefined;
  lastActiveAt: number;
}

function onlineCount(s: UserState): number {
  return s.devices ? s.devices.size : s.device === undefined ? 0 : 1;
}

function hasDevice(s: UserState, deviceId: string): boolean {
  return s.devices ? s.devices.has(deviceId) : s.device === deviceId;
}

function setDevice(s: UserState, deviceId: string, at: number): void {
  if (s.devices) s.devices.set(deviceId, at);
  else if (s.device === undefined || s.device === deviceId) {
    s.device = deviceId;
    s.deviceAt = at;
  } else {
    s.devices = new Map([
      [s.device, s.deviceAt],
      [deviceId, at],
    ]);
    s.device = undefined;
  }
}

function deleteDevice(s: UserState, deviceId: string): boolean {
  if (s.devices) return s.devices.delete(deviceId);
  if (s.device !== deviceId) return false;
  s.device = undefined;
  return true;
}

/** Drops the devices silent since before `deadline`. */
function expire(s: UserState, deadline: number): void {
  if (s.devices) {
    for (const [deviceId, last] of s.devices) if (last < deadline) s.devices.delete(deviceId);
  } else if (s.device !== undefined && s.deviceAt < deadline) s.device = undefined;
}

/** Users remembered for lastActiveAt after going offline; the oldest are forgotten past this. */
const MAX_REMEMBERED_OFFLINE = 1_000_000;

export class MemoryPresence implements PresenceBackend {
  private readonly users = new Map<string, UserState>();
  private readonly handlers: ((p: PresenceInfo) => void)[] = [];
  private readonly expireMs: number;
  private readonly clock: () => number;
  private readonly timer: NodeJS.Timeout;
  private offlineCount = 0;
  private closed = false;

  constructor(options: { expireMs: number; clock?: () => number }) {
    this.expireMs = options.expireMs;
    this.clock = options.clock ?? Date.now;
    this.timer = setInterval(() => this.sweep(), Math.max(50, Math.floor(options.expireMs / 3)));
    this.timer.unref();
  }

  private state(userId: string): UserState {
    let s = this.users.get(userId);
    if (!s) {
      s = { device: undefined, deviceAt: 0, devices: undefined, lastActiveAt: 0 };
      this.users.set(userId, s);
    }
    return s;
  }

  private emit(userId: string, s: UserState): void {
    const p: PresenceInfo = {
      userId,
      status: onlineCount(s) > 0 ? 'online' : 'offline',
      lastActiveAt: s.lastActiveAt,
    };
    for (const h of this.handlers) h(p);
  }

  async deviceOnline(userId: string, deviceId: string, _nodeId: number, now: number): Promise<void> {
    const s = this.state(userId);
    const wasOnline = onlineCount(s) > 0;
    if (!wasOnline && s.lastActiveAt > 0) this.offlineCount--;
    setDevice(s, deviceId, now);
    s.lastActiveAt = Math.max(s.lastActiveAt, now);
    if (!wasOnline) this.emit(userId, s);
  }

  async deviceActive(userId: string, deviceId: string, now: number): Promise<void> {
    const s = this.users.get(userId);
    if (!s || !hasDevice(s, deviceId)) return;
    setDevice(s, deviceId, now);
    s.lastActiveAt = Math.max(s.lastActiveAt, now);
  }

  async deviceOffline(userId: string, deviceId: string, now: number): Promise<void> {
    const s = this.users.get(userId);
    if (!s || !deleteDevice(s, deviceId)) return;
    s.lastActiveAt = Math.max(s.lastActiveAt, Math.min(now, this.clock()));
    if (onlineCount(s) === 0) this.wentOffline(userId, s);
  }

  private wentOffline(userId: string, s: UserState): void {
    this.offlineCount++;
    this.emit(userId, s);
    if (this.offlineCount > MAX_REMEMBERED_OFFLINE) this.forgetOldest();
  }

  private forgetOldest(): void {
    // Map iteration is insertion order: users seen earliest come first.
    for (const [userId, s] of this.users) {
      if (this.offlineCount <= MAX_REMEMBERED_OFFLINE * 0.9) break;
      if (onlineCount(s) === 0) {
        this.users.delete(userId);
        this.offlineCount--;
      }
    }
  }

  /** Drops devices silent for longer than expireMs (a node that died without saying so). */
  sweep(): void {
    const deadline = this.clock() - this.expireMs;
    for (const [userId, s] of this.users) {
      if (onlineCount(s) === 0) continue;
      expire(s, deadline);
      if (onlineCount(s) === 0) this.wentOffline(userId, s);
    }
  }

  async get(userIds: readonly string[]): Promise<PresenceInfo[]> {
    return userIds.map((userId) => {
      const s = this.users.get(userId);
      return {
        userId,
        status: s && onlineCount(s) > 0 ? 'online' : 'offline',
        lastActiveAt: s && s.lastActiveAt > 0 ? s.lastActiveAt : null,
      };
    });
  }

  onChange(handler: (p: PresenceInfo) => void): void {
    this.handlers.push(handler);
  }

  isReady(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
  }
}
