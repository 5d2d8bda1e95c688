/**
 * Usernames as people read them: two names that look alike are one name. A name is compared by its
 * key (NFKC, then case-folded), and characters that do not show (zero-width, format and
 * direction-override characters) are refused outright, so they cannot make a look-alike either.
 */

/** Characters that change how a name reads without being seen: Cf (format, bidi controls), default ignorables. */
const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}\p{Bidi_Control}]/u;

/** True when the name holds a character that does not show (see INVISIBLE). */
export function hasInvisible(name: string): boolean {
  return INVISIBLE.test(name);
}

/**
 * The key two usernames are compared by: NFKC (compatibility forms: full-width letters, ligatures,
 * NFC and NFD spellings alike), then case-folded. JavaScript has no full case fold; upper then lower
 * case folds what it does (ß → ss, ſ → s, Kelvin sign → k), and NFKC again closes the result.
 */
export function usernameKey(name: string): string {
  return name.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
}
