/**
 * Reaching chat-node pods from the test host. The nodes advertise
 * `http://<pod>.<cluster>-nodes.<namespace>.svc:8080` (their headless Service), a name only cluster
 * DNS knows. The test host instead maps each pod name to its pod IP, read from the API server every
 * 500 ms, and gives the SDK a fetch and a WebSocket that dial that IP. It needs a route from the host
 * to pod IPs, which the node of `npm run k8s:up` has (its bridge); on other clusters, run the tests
 * from a machine inside the pod network.
 */
import type { CoreV1Api } from '@kubernetes/client-node';
import WebSocket from 'ws';
import type { WebSocketConstructor } from '../../client/socket.ts';

export class PodAddresses {
  private readonly core: CoreV1Api;
  private readonly namespace: string;
  private readonly ips = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(core: CoreV1Api, namespace: string) {
    this.core = core;
    this.namespace = namespace;
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh().catch(() => {}), 500);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    const pods = await this.core.listNamespacedPod({ namespace: this.namespace });
    this.ips.clear();
    for (const p of pods.items) {
      const name = p.metadata?.name;
      const ip = p.status?.podIP;
      if (name && ip && !p.metadata?.deletionTimestamp) this.ips.set(name, ip);
    }
  }

  /** The pod's own URL on its IP (undefined while it has none). */
  podUrl(pod: string): string | undefined {
    const ip = this.ips.get(pod);
    return ip ? `http://${ip}:8080` : undefined;
  }

  /** The pod's admin API on its IP (the admin port, 9090; undefined while it has none). */
  adminUrl(pod: string): string | undefined {
    const ip = this.ips.get(pod);
    return ip ? `http://${ip}:9090` : undefined;
  }

  /** `url` with a `<pod>.<service>.<namespace>.svc` host replaced by the pod's IP; others unchanged. */
  rewrite(url: string): string {
    const u = new URL(url);
    const m = /^([a-z0-9-]+)\.[a-z0-9-]+\.([a-z0-9-]+)\.svc(\.cluster\.local)?$/.exec(u.hostname);
    if (!m || m[2] !== this.namespace) return url;
    const ip = this.ips.get(m[1] as string);
    if (!ip) return url;
    u.hostname = ip;
    const out = u.toString();
    return url.endsWith('/') || u.pathname !== '/' ? out : out.slice(0, -1);
  }

  /** A fetch for the SDK that dials pods by IP. */
  readonly fetch: typeof fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    return fetch(this.rewrite(url), init);
  };

  /** A WebSocket constructor for the SDK that dials pods by IP. */
  get WebSocket(): WebSocketConstructor {
    const rewrite = (url: string) => this.rewrite(url);
    class PodWebSocket extends WebSocket {
      constructor(url: string, options?: WebSocket.ClientOptions) {
        super(rewrite(url), options);
      }
    }
    return PodWebSocket as unknown as WebSocketConstructor;
  }
}
