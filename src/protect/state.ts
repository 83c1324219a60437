/** Per-request state shared by the protection mechanisms. */
import { stateKey } from '../core/context.js';

/** Verified JWT claims (set by auth.jwt; rate limits may key on them). */
export const kJwtClaims = stateKey<Record<string, unknown>>('protect.jwt_claims');
/** Headers the auth checks add to the upstream request (user, claims, forward-auth answers). */
export const kAuthHeaders = stateKey<[string, string][]>('protect.auth_headers');
