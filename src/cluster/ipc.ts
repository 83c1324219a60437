/**
 * The messages between the primary process and its workers (`workers:`, docs/operations.md), over node:cluster's
 * IPC channel. Every one carries `gh: 1`, so node's own cluster messages are never taken for ours.
 */
import type { CachePurge, ServerSource, ServerSpec } from '../core/services.js';

/** A rate-limit decision as it crosses (protect/stores/store.ts `RateDecision`). */
export interface RateAnswer { allowed: boolean; retryAfterMs: number; remaining: number; resetMs: number }

/** A rate-limit question as it crosses: one request for `key`, at one per `interval` ms with `burst` at once. */
export interface RateQuestion { key: string; interval: number; burst: number; maxKeys: number }

/** What the primary asks of a worker; the worker answers with a `reply` of the same id. */
export type WorkerCall =
  | { op: 'list' }
  | { op: 'get'; upstream: string }
  | { op: 'add'; upstream: string; spec: ServerSpec & { source: ServerSource } }
  | { op: 'drain' | 'enable' | 'remove'; upstream: string; id: string }
  /** Read the config file again and apply it (the primary has validated it). */
  | { op: 'reload' }
  /** `remote`: a purge made elsewhere (another worker, another instance), normalised; not announced again. */
  | { op: 'purge'; req: CachePurge; remote?: boolean }
  | { op: 'cache' }
  /** The worker's metrics as JSON (prom-client `getMetricsAsJSON()`), merged in the primary for `GET /metrics`. */
  | { op: 'metrics' }
  /** The worker's last 5xx requests (observe/recent-errors.ts), merged in the primary for the dashboard. */
  | { op: 'errors' };

/** An error carried across: its class name (RegistryError, PurgeError…), message and code. */
export interface WireError { name: string; message: string; code?: string }

export type ToWorker =
  | { gh: 1; t: 'call'; id: number; call: WorkerCall }
  | { gh: 1; t: 'rate'; id: number; decision: RateAnswer }
  /**
   * Stop accepting, finish in-flight requests, exit 0. `handoff`: other workers take over (a rolling restart, a
   * smaller group): idle keep-alive connections linger so that clients move over without a failed request.
   */
  | { gh: 1; t: 'stop'; handoff?: boolean };

export type FromWorker =
  /** Listening: every listener is bound. */
  | { gh: 1; t: 'ready' }
  | { gh: 1; t: 'reply'; id: number; ok: true; value: unknown }
  | { gh: 1; t: 'reply'; id: number; ok: false; error: WireError }
  /** A purge or invalidation this worker made (PURGE method, unsafe request): the others do the same. */
  | { gh: 1; t: 'purged'; req: CachePurge }
  /** A rate-limit decision, counted in the primary (no `state.redis`). */
  | ({ gh: 1; t: 'rate'; id: number } & RateQuestion)
  /** Its metrics (as the `metrics` call answers), sent once drained when the primary stopped it: its last counts. */
  | { gh: 1; t: 'final'; metrics: unknown };

export function isOurs<T extends { gh: 1 }>(m: unknown): m is T {
  return typeof m === 'object' && m !== null && (m as { gh?: unknown }).gh === 1;
}

export function wireError(err: unknown): WireError {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as { code?: unknown }).code;
  return { name: e.name, message: e.message, ...(typeof code === 'string' ? { code } : {}) };
}

/** The environment variable that tells a forked process it is worker number N (1-based) of a group. */
export const WORKER_ENV = 'GATEHOUSE_WORKER';
