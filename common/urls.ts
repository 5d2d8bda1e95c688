/** URLs as they may appear in logs and error messages. */

/** The URL with its password replaced by `***` and no trailing slash; never the input if unparsable. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(unparsable URL)';
  }
}
