/**
 * TCP relays for the test cluster (started by scripts/k8s/up.sh): each argument `host:port=host:port`
 * listens on the first address and pipes every connection to the second. Pods reach servers that
 * listen on loopback only (the API server, the backends of `npm run services:up`) through the node
 * address this way; a relay is undone by stopping the process. Prints `relay: ready` once all listen.
 */
import net from 'node:net';

const mappings = process.argv.slice(2).map((arg) => {
  const m = /^([\d.]+):(\d+)=([\d.]+):(\d+)$/.exec(arg);
  if (!m) {
    console.error(`relay: bad mapping ${JSON.stringify(arg)} (want listenHost:port=targetHost:port)`);
    process.exit(2);
  }
  return { arg, host: m[1], port: Number(m[2]), toHost: m[3], toPort: Number(m[4]) };
});

let listening = 0;
for (const { arg, host, port, toHost, toPort } of mappings) {
  const server = net.createServer({ noDelay: true }, (client) => {
    const upstream = net.connect({ host: toHost, port: toPort, noDelay: true });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.on('error', (err) => {
    console.error(`relay: ${arg}: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    console.log(`relay: ${host}:${port} -> ${toHost}:${toPort}`);
    if (++listening === mappings.length) console.log('relay: ready');
  });
}
process.on('SIGTERM', () => process.exit(0));
