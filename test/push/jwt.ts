/** Reading the JWTs the providers send, as the push services do: header, claims, signature checked. */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify } from 'jose';

/** The header and claims of `jwt`, after its signature verified with `key` (throws otherwise). */
export async function verifiedJwt(jwt: string, key: KeyObject, algorithm: string) {
  const header = decodeProtectedHeader(jwt);
  const { payload } = await jwtVerify(jwt, key, { algorithms: [algorithm] });
  return { header, claims: payload };
}

/** A P-256 public key from its 65-byte uncompressed point in base64url (as VAPID's `k=` carries it). */
export function p256PublicKey(point: string): KeyObject {
  const raw = Buffer.from(point, 'base64url');
  if (raw.length !== 65 || raw[0] !== 4) throw new Error('not an uncompressed P-256 point');
  return createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: raw.subarray(1, 33).toString('base64url'),
      y: raw.subarray(33).toString('base64url'),
    },
    format: 'jwk',
  });
}
