import { GenericError } from './errors.js';
import { b64urlDecode } from './util.js';

export interface IdTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  nonce?: string;
  azp?: string;
  auth_time?: number;
  nbf?: number;
  sid?: string;
  [claim: string]: unknown;
}

/** The `act` (actor) claim of a delegated token (RFC 8693 §4.1). */
export interface ActClaim {
  sub?: string;
  act?: ActClaim;
  [claim: string]: unknown;
}

/** The user's claims from the ID token (a class, importable as a value, as in Auth0's SDK). */
// eslint-disable-next-line @typescript-eslint/no-extraneous-class
export class User {}
export interface User {
  sub?: string;
  name?: string;
  email?: string;
  email_verified?: boolean;
  picture?: string;
  [claim: string]: unknown;
}

export interface VerifyOptions {
  id_token: string;
  /** Expected `iss`, string-equal. */
  iss: string;
  /** The client id (`aud`, `azp`). */
  aud: string;
  /** Expected nonce (code flows); omit on refresh. */
  nonce?: string;
  /** When set, `auth_time` is required and `now <= auth_time + max_age + leeway`. */
  max_age?: number | string;
  leeway: number;
  /** Unix seconds. */
  now: number;
}

/** Claims that describe the token rather than the user. */
const PROTOCOL_CLAIMS = 'iss aud exp nbf iat jti azp nonce auth_time at_hash c_hash acr amr sub_jwk cnf sip_hash sid org_id org_name session_expiry'.split(' ');

function fail(d: string): never {
  throw new GenericError('invalid_id_token', d);
}

export function decodeJwt(token: string): { header: Record<string, unknown>; claims: IdTokenClaims } {
  const parts = String(token).split('.');
  if (parts.length !== 3 || parts.includes('')) fail('ID token could not be decoded');
  try {
    const header = JSON.parse(b64urlDecode(parts[0]!));
    const claims = JSON.parse(b64urlDecode(parts[1]!));
    if (header && typeof header === 'object' && claims && typeof claims === 'object') return { header, claims };
  } catch {
    // fall through
  }
  return fail('ID token could not be decoded');
}

/**
 * OIDC Core §3.1.3.7 claim checks. The signature is not verified: the token was received over
 * TLS directly from the token endpoint (as the Auth0 SDK does); resource servers must verify.
 */
export function verifyIdToken(o: VerifyOptions): { claims: IdTokenClaims; user: User } {
  const { header, claims } = decodeJwt(o.id_token);
  const num = Number.isFinite as (v: unknown) => v is number;
  const { leeway, now } = o;
  const bad = (what: string, detail = ''): never => fail(`${what} claim invalid in the ID token${detail && `: ${detail}`}`);
  if (typeof header.alg !== 'string' || header.alg.toLowerCase() === 'none') fail('ID token must be signed');
  if (claims.iss !== o.iss) bad('Issuer (iss)', `expected "${o.iss}", found "${String(claims.iss)}"`);
  if (typeof claims.sub !== 'string' || !claims.sub) bad('Subject (sub)');
  const aud = claims.aud;
  if (Array.isArray(aud) ? !aud.includes(o.aud) : aud !== o.aud) bad('Audience (aud)', `expected "${o.aud}", found "${String(aud)}"`);
  if ((Array.isArray(aud) && aud.length > 1 && claims.azp !== o.aud) || (claims.azp !== undefined && claims.azp !== o.aud)) bad('Authorized Party (azp)', `expected "${o.aud}"`);
  if (o.nonce !== undefined && claims.nonce !== o.nonce) bad('Nonce (nonce)');
  if (!num(claims.exp) || now > claims.exp + leeway) bad('Expiration Time (exp)', `now ${now}`);
  if (!num(claims.iat) || claims.iat > now + leeway) bad('Issued At (iat)', `now ${now}`);
  if (claims.nbf !== undefined && (!num(claims.nbf) || now < claims.nbf - leeway)) bad('Not Before (nbf)', `now ${now}`);
  if (o.max_age != null && o.max_age !== '') {
    if (!num(claims.auth_time) || now > claims.auth_time + Number(o.max_age) + leeway) bad('Authentication Time (auth_time)', `max_age ${o.max_age}, now ${now}`);
  }
  const user: User = {};
  for (const [k, v] of Object.entries(claims)) if (!PROTOCOL_CLAIMS.includes(k)) user[k] = v;
  return { claims, user };
}
