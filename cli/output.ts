/**
 * `-o table|wide|json|yaml|name`, as kubectl prints them: a table (wide: with more columns), the
 * objects as JSON or YAML, or one `<kind>/<name>` per line for scripts.
 */
import { stringify } from 'yaml';

export const OUTPUT_FORMATS = ['table', 'wide', 'json', 'yaml', 'name'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** How one kind of thing prints: its table (with the wide columns or not) and its name. */
export interface View<T> {
  table(items: readonly T[], wide: boolean): string[];
  name(item: T): string;
}

/** The lines of `data` (a list, or one object) in `format`. */
export function render<T>(
  format: OutputFormat,
  data: readonly T[] | T,
  view: View<T>,
  single = false,
): string[] {
  const items = single ? [data as T] : (data as readonly T[]);
  switch (format) {
    case 'json':
      return [JSON.stringify(data, null, 2)];
    case 'yaml':
      return stringify(data).replace(/\n$/, '').split('\n');
    case 'name':
      return items.map((i) => view.name(i));
    default:
      return view.table(items, format === 'wide');
  }
}
