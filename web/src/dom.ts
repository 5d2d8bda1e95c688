/** A few DOM helpers, so that views read as the markup they build. */

type Child = Node | string | false | null | undefined;
type Props = {
  class?: string;
  text?: string;
  /** Event listeners, e.g. `{ click: () => … }`. */
  on?: { [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void };
  /** Attributes (aria-*, role, type, …); false or undefined leaves one out. */
  attrs?: Record<string, string | number | boolean | undefined>;
};

/** An element with its class, text, listeners, attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.text !== undefined) el.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const [type, fn] of Object.entries(props.on ?? {})) el.addEventListener(type, fn as EventListener);
  for (const c of children) if (c !== false && c !== null && c !== undefined) el.append(c);
  return el;
}

/** The element with this id; throws when the page lacks it (a broken index.html). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el as T;
}

/** A time as the app shows it: hh:mm today, else the date too. */
export function timeOf(ts: number): string {
  const d = new Date(ts);
  const today = new Date().toDateString() === d.toDateString();
  return today
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** The text of an error for the person using the app. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A form's submit listener that keeps the page where it is and runs `fn`. */
export function onSubmit(fn: () => unknown): (e: SubmitEvent) => void {
  return (e) => {
    e.preventDefault();
    void fn();
  };
}
