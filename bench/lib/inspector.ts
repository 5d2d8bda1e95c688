/**
 * Live heap of a Node target, apart from heap the collector grew and has not returned: the target
 * runs with `--inspect=127.0.0.1:<port>` (bench only; the product has no code path for it), and the
 * bench asks it over the inspector's WebSocket for a full GC (`HeapProfiler.collectGarbage`), then
 * for its heap use (`Runtime.getHeapUsage`) and `process.memoryUsage()`.
 */
import WebSocket from 'ws';

export interface HeapReading {
  /** V8 heap in use after the GC (live objects). */
  heapUsed: number;
  /** V8 heap reserved after the GC. */
  heapTotal: number;
  /** Memory of C++ objects bound to JS objects (Buffers, sockets' ArrayBuffers) after the GC. */
  external: number;
  /** RSS as the process sees it right after the GC. */
  rss: number;
}

/** The `--inspect` flag for a target, on a port the bench chose. */
export function inspectArg(port: number): string {
  return `--inspect=127.0.0.1:${port}`;
}

async function debuggerUrl(port: number): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
        webSocketDebuggerUrl?: string;
      }[];
      const url = list[0]?.webSocketDebuggerUrl;
      if (url) return url;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`no inspector on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Forces full GCs in the target (two: weak references freed by the first go in the second), then reads its heap. */
export async function heapAfterGc(port: number): Promise<HeapReading> {
  const ws = new WebSocket(await debuggerUrl(port), { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let next = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
    if (m.id === undefined) return;
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.error) p?.reject(new Error(m.error.message));
    else p?.resolve(m.result);
  });
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const r = (await call('Runtime.evaluate', {
      expression: 'JSON.stringify(process.memoryUsage())',
      returnByValue: true,
    })) as { result: { value: string } };
    const m = JSON.parse(r.result.value) as {
      rss: number;
      heapUsed: number;
      heapTotal: number;
      external: number;
    };
    return { heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, rss: m.rss };
  } finally {
    ws.close();
  }
}
