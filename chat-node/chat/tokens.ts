/**
 * Signed session tokens (HS256 JWTs, jose): subject = userId, `did` = deviceId, `ims` = when it was
 * issued in ms (revocations compare it; `iat` has whole seconds only). A signature proves only who
 * issued a token: token-validity.ts checks that its account exists and that it was not revoked.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jwtVerify, SignJWT } from 'jose';
import { isOpaqueId } from '../../common/ids.ts';
import { privateDir } from '../backends/embedded/private-files.ts';

export interface TokenClaims {
  userId: string;
  deviceId: string;
  /** When the token was issued (ms). Set by verify. */
  issuedAt?: number;
}

const ISSUER = 'chat-platform';

export class Tokens {
  private readonly key: Uint8Array;
  private readonly ttlSec: number;

  constructor(secret: string, ttlSec: number) {
    this.key = new TextEncoder().encode(secret);
    this.ttlSec = ttlSec;
  }

  /** `issuedAt` (ms, default now) goes into `ims`. */
  sign(claims: TokenClaims, issuedAt: number = Date.now()): Promise<string> {
    return new SignJWT({ did: claims.deviceId, ims: issuedAt })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(claims.userId)
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSec}s`)
      .sign(this.key);
  }

  /** The claims of a valid token, or undefined for anything else (bad signature, expired, malformed). */
  async verify(token: string | undefined): Promise<TokenClaims | undefined> {
    if (!token || token.length > 4096) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: ISSUER, algorithms: ['HS256'] });
      if (!isOpaqueId(payload.sub) || !isOpaqueId(payload.did)) return undefined;
      const issuedAt =
        typeof payload.ims === 'number' && Number.isFinite(payload.ims)
          ? payload.ims
          : (payload.iat ?? 0) * 1000;
      return { userId: payload.sub, deviceId: payload.did, issuedAt };
    } catch {
      return undefined;
    }
  }
}

/** The secret kept in `<dataDir>/jwt-secret`, generated (0600) on first use. */
export function loadOrCreateSecret(dataDir: string): string {
  const file = join(dataDir, 'jwt-secret');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  privateDir(dataDir);
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return secret;
}

/** The bearer token of an Authorization header value. */
export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}
