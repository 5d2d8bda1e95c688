/**
 * Source addresses for many loopback connections. Linux gives each connection that binds a source
 * address its own ephemeral port of that address (net.ipv4.ip_local_port_range, 28,232 ports by
 * default), so one address holds at most that many connections; spreading them round-robin over
 * 127.0.x.y (all of 127.0.0.0/8 is loopback) lets tens of thousands fit.
 *
 * Few connections per address also keep connecting fast: bind() searches the address's port range
 * for a free port, which gets slow as the range fills (TIME_WAIT ports of a previous scenario
 * count too), so each pool starts on addresses the previous pools did not use.
 */

/** Connections put on one source address at most: a small share of the ephemeral range. */
export const DEFAULT_PER_ADDRESS = 1000;

/** Addresses 127.0.0.2 … 127.0.255.255 (the index wraps around). */
const ADDRESS_SPACE = 256 * 256 - 2;

/**
 * The loopback addresses for `total` connections: 127.0.0.2, 127.0.0.3, … from the `first`-th on
 * (at least one).
 */
export function sourceAddresses(
  total: number,
  perAddress = DEFAULT_PER_ADDRESS,
  portRange?: number,
  first = 0,
): string[] {
  const per = Math.max(1, Math.min(perAddress, portRange ?? perAddress));
  const n = Math.max(1, Math.ceil(total / per));
  if (n > ADDRESS_SPACE) throw new Error(`${total} connections need more addresses than 127.0.0.0/16 holds`);
  return Array.from({ length: n }, (_, i) => {
    const k = ((first + i) % ADDRESS_SPACE) + 2;
    return `127.0.${Math.floor(k / 256)}.${k % 256}`;
  });
}

let nextFirst = 0;

/** Like sourceAddresses, on addresses that no earlier call in this process got. */
export function freshSourceAddresses(total: number, perAddress = DEFAULT_PER_ADDRESS): string[] {
  const list = sourceAddresses(total, perAddress, undefined, nextFirst);
  nextFirst = (nextFirst + list.length) % ADDRESS_SPACE;
  return list;
}

/** The source address of connection `index`: round-robin, so every address gets an even share. */
export function addressFor(index: number, addresses: readonly string[]): string {
  return addresses[index % addresses.length]!;
}

/** The size of the ephemeral port range from the text of /proc/sys/net/ipv4/ip_local_port_range. */
export function portRangeSize(text: string): number | undefined {
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(text);
  if (!m) return undefined;
  return Number(m[2]) - Number(m[1]) + 1;
}
