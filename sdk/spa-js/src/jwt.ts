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
const PROTOCOL_CLAIMS = [
  'iss', 'aud', 'exp', 'nbf', 'iat', 'jti', 'azp', 'nonce', 'auth_time', 'at_hash', 'c_hash',
  'acr', 'amr', 'sub_jwk', 'cnf', 'sip_hash', 'sid', 'org_id', 'org_name', 'session_expiry',
];

function fail(d: string): never {
  throw new GenericError('invalid_id_token', d);
}

export function decodeJwt(token: string): { header: Record<string, unknown>; claims: IdTokenClaims } {
  const parts = String(token).split('.');
  if (parts.length !== 3 || !parts[0] || !parts[1] || !parts[2]) fail('ID token could not be decoded');
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
  const num = (v: unknown): v is number => typeof v === 'number' && isFinite(v);
  const { leeway, now } = o;
  if (typeof header.alg !== 'string' || header.alg.toLowerCase() === 'none') fail('ID token must be signed');
  if (typeof claims.iss !== 'string') fail('Issuer (iss) claim must be a string present in the ID token');
  if (claims.iss !== o.iss) fail(`Issuer (iss) claim mismatch in the ID token; expected "${o.iss}", found "${claims.iss}"`);
  if (typeof claims.sub !== 'string' || !claims.sub) fail('Subject (sub) claim must be a string present in the ID token');
  const aud = claims.aud;
  if (Array.isArray(aud)) {
    if (!aud.includes(o.aud)) fail(`Audience (aud) claim mismatch in the ID token; expected "${o.aud}" but was not one of "${aud.join(', ')}"`);
    if (aud.length > 1 && claims.azp !== o.aud) fail(`Authorized Party (azp) claim mismatch in the ID token; expected "${o.aud}", found "${String(claims.azp)}"`);
  } else if (aud !== o.aud) fail(`Audience (aud) claim mismatch in the ID token; expected "${o.aud}" but found "${String(aud)}"`);
  if (claims.azp !== undefined && claims.azp !== o.aud) fail(`Authorized Party (azp) claim mismatch in the ID token; expected "${o.aud}", found "${String(claims.azp)}"`);
  if (o.nonce !== undefined && claims.nonce !== o.nonce) fail(`Nonce (nonce) claim mismatch in the ID token; expected "${o.nonce}", found "${String(claims.nonce)}"`);
  if (!num(claims.exp)) fail('Expiration Time (exp) claim must be a number present in the ID token');
  if (now > claims.exp + leeway) fail(`Expiration Time (exp) claim error in the ID token; current time (${now}) is after expiration time (${claims.exp + leeway})`);
  if (!num(claims.iat)) fail('Issued At (iat) claim must be a number present in the ID token');
  if (claims.iat > now + leeway) fail(`Issued At (iat) claim error in the ID token; issued in the future (${claims.iat}) at current time (${now})`);
  if (claims.nbf !== undefined && (!num(claims.nbf) || now < claims.nbf - leeway)) fail(`Not Before time (nbf) claim in the ID token indicates that this token can't be used just yet. Current time (${now}) is before ${String(claims.nbf)}`);
  if (o.max_age !== undefined && o.max_age !== null && o.max_age !== '') {
    const maxAge = Number(o.max_age);
    if (!num(claims.auth_time)) fail('Authentication Time (auth_time) claim must be a number present in the ID token when Max Age (max_age) is specified');
    if (now > claims.auth_time + maxAge + leeway) fail(`Authentication Time (auth_time) claim in the ID token indicates that too much time has passed since the last end-user authentication. Current time (${now}) is after last auth at ${claims.auth_time + maxAge + leeway}`);
  }
  const user: User = {};
  for (const [k, v] of Object.entries(claims)) if (!PROTOCOL_CLAIMS.includes(k)) user[k] = v;
  return { claims, user };
}
