import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import { AppError } from '../errors.ts';
import type { Principal } from './principal.ts';

export interface AuthConfig {
  /** `dev`: no token, every caller is user "dev" (loopback hosts only). `jwt`: verified tokens. */
  mode: 'dev' | 'jwt';
  /** HS256 secret, at least 32 characters. */
  secret?: string | undefined;
  /** A JWKS endpoint, or an inline `jwks`, for asymmetric keys. */
  jwksUrl?: string | undefined;
  /** A JWKS given inline (tests, or keys shipped with the deployment). */
  jwks?: JSONWebKeySet | undefined;
  issuer?: string | undefined;
  audience?: string | undefined;
}

export interface Authenticator {
  readonly mode: 'dev' | 'jwt';
  /** A token (or none) -> who is calling. Throws AppError 401 when it cannot be trusted. */
  authenticate(token: string | undefined): Promise<Principal>;
}

export const DEV_PRINCIPAL: Principal = Object.freeze({
  user_id: 'dev',
  roles: Object.freeze(['approver']),
});

export function createAuthenticator(config: AuthConfig): Authenticator {
  if (config.mode === 'dev') {
    return { mode: 'dev', authenticate: () => Promise.resolve(DEV_PRINCIPAL) };
  }
  const options: JWTVerifyOptions = {
    ...(config.issuer ? { issuer: config.issuer } : {}),
    ...(config.audience ? { audience: config.audience } : {}),
  };
  const verify = verifierFor(config, options);
  return {
    mode: 'jwt',
    async authenticate(token) {
      if (!token) throw new AppError('token_missing', 'a bearer token is required', 401);
      try {
        const { payload } = await verify(token);
        if (typeof payload.sub !== 'string' || payload.sub === '') {
          throw new AppError('token_invalid', 'the token has no subject', 401);
        }
        const roles = Array.isArray(payload['roles'])
          ? payload['roles'].filter((r): r is string => typeof r === 'string')
          : [];
        return {
          user_id: payload.sub,
          roles,
          ...(typeof payload.exp === 'number' ? { expires_at: payload.exp * 1000 } : {}),
        };
      } catch (error) {
        throw toAuthError(error);
      }
    },
  };
}

function verifierFor(config: AuthConfig, options: JWTVerifyOptions) {
  if (config.secret) {
    const key = new TextEncoder().encode(config.secret);
    return (token: string) => jwtVerify(token, key, { ...options, algorithms: ['HS256'] });
  }
  let keys: JWTVerifyGetKey;
  if (config.jwks) keys = createLocalJWKSet(config.jwks);
  else if (config.jwksUrl) keys = createRemoteJWKSet(new URL(config.jwksUrl));
  else throw new Error('jwt auth needs a secret, a JWKS or a JWKS URL');
  return (token: string) => jwtVerify(token, keys, options);
}

function toAuthError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof errors.JWTExpired)
    return new AppError('token_expired', 'the token has expired', 401);
  if (error instanceof errors.JWTClaimValidationFailed) {
    return new AppError('token_invalid', `the token's ${error.claim} claim is not accepted`, 401);
  }
  return new AppError('token_invalid', 'the token is not valid', 401);
}
