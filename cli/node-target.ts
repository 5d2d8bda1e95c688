/**
 * Which node `drain`, `undrain` and `shed` act on (pure): a node's admin URL, as before, or a
 * ChatCluster and one of its nodes, reached through the Kubernetes API server. A ChatCluster name
 * never holds `:` or `/`, a URL always does (`localhost:9090` is taken as `http://localhost:9090`).
 *
 *   chatctl drain <chatcluster> <pod|node id>     chatctl drain <node-url>
 *   chatctl shed <chatcluster> <pod|node id> <n>  chatctl shed <node-url> <n>
 */
import { InvalidArgumentError } from 'commander';
import { httpUrl, integer, kubeName } from './args.ts';
import { UsageError } from './errors.ts';

export type NodeTarget = { kind: 'url'; url: string } | { kind: 'pod'; chatcluster: string; node: string };

/** True when `value` is a node URL rather than a ChatCluster name. */
export const isUrl = (value: string): boolean => /[:/]/.test(value);

/** Runs a commander parser, turning its complaint into a usage error that names the argument. */
function parsed<T>(name: string, value: string, parse: (v: string) => T): T {
  try {
    return parse(value);
  } catch (err) {
    if (err instanceof InvalidArgumentError) {
      throw new UsageError(`'${value}' is invalid for argument '${name}': ${err.message}`);
    }
    throw err;
  }
}

/** A pod name (`chat-1`) or a node id (`1`, the pod's ordinal). */
function nodeRef(value: string): string {
  if (/^\d+$/.test(value)) return String(parsed('node', value, integer(0, 1_000_000)));
  return parsed('node', value, kubeName);
}

const which = (chatcluster: string) =>
  `say which node of ChatCluster ${chatcluster}: its pod name (${chatcluster}-0) or node id (0); ` +
  `chatctl nodes ${chatcluster} lists them`;

/** The target of `drain` and `undrain`: `<node-url>`, or `<chatcluster> <node>`. */
export function nodeTarget(first: string, node: string | undefined): NodeTarget {
  if (isUrl(first)) {
    if (node !== undefined) {
      throw new UsageError(
        `a node URL names the node by itself: pass either <node-url> or <chatcluster> <node>, not "${first} ${node}"`,
      );
    }
    return { kind: 'url', url: parsed('node-url', first, httpUrl) };
  }
  const chatcluster = parsed('chatcluster', first, kubeName);
  if (node === undefined) throw new UsageError(which(chatcluster));
  return { kind: 'pod', chatcluster, node: nodeRef(node) };
}

const COUNT = integer(1, 10_000_000);

/** The target and count of `shed`: `<node-url> <count>`, or `<chatcluster> <node> <count>`. */
export function shedTarget(
  first: string,
  second: string,
  third: string | undefined,
): { target: NodeTarget; count: number } {
  if (isUrl(first)) {
    if (third !== undefined) {
      throw new UsageError(
        `a node URL names the node by itself: pass <node-url> <count> or <chatcluster> <node> <count>, not "${first} ${second} ${third}"`,
      );
    }
    return { target: nodeTarget(first, undefined), count: parsed('count', second, COUNT) };
  }
  const chatcluster = parsed('chatcluster', first, kubeName);
  if (third === undefined) {
    throw new UsageError(
      `say how many sessions to move off node ${second} of ChatCluster ${chatcluster}: chatctl shed ${chatcluster} ${second} <count>`,
    );
  }
  return { target: nodeTarget(chatcluster, second), count: parsed('count', third, COUNT) };
}
