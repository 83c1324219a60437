/**
 * A group of worker processes (`workers: N | auto`), run by the primary with node:cluster: the workers share
 * every listener and serve requests; the primary holds no request path, not even the accepts. The workers accept
 * from the shared listening socket themselves (node:cluster `SCHED_NONE`, as nginx's workers do), unless
 * NODE_CLUSTER_SCHED_POLICY says otherwise: with node's round robin the primary accepts every connection and
 * hands it to a worker over IPC, and a connection in hand-off to a worker killed at that instant stays open in
 * the primary, unanswered, for as long as the client waits (node:cluster keeps it until the worker acknowledges
 * it). With the kernel's queue, a killed worker leaves the connections it had not accepted to the others. It keeps N of them alive, replacing one that dies at once (with a growing delay when a slot keeps
 * dying within seconds of starting), and replaces them all one by one for a rolling restart, each new worker
 * ready (listening) before the old one is told to drain.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { CachePurge } from '../core/services.js';
import { isOurs, WORKER_ENV, type FromWorker, type RateAnswer, type RateQuestion, type ToWorker, type WireError, type WorkerCall } from './ipc.js';

/** `workers` as a count: `auto` is one per core (os.availableParallelism). */
export function workerCount(workers: number | 'auto'): number {
  return workers === 'auto' ? availableParallelism() : workers;
}

/** A worker that lived this long before dying is replaced at once; one dying sooner waits longer each time. */
const STABLE_MS = 10_000;
const BACKOFF_MAX_MS = 30_000;
/** Longest wait for a new worker to be listening (rolling restarts, growing the group). */
const READY_TIMEOUT_MS = 60_000;

export interface Member {
  slot: number;
  worker: Worker;
  ready: boolean;
  /** Told to stop (a rolling restart, a smaller group, the primary stopping): not replaced when it exits. */
  retiring: boolean;
  startedAt: number;
  /** Resolves once listening, rejects if it exits first. */
  whenReady: Promise<void>;
}

export interface GroupOptions {
  log: Logger;
  /** Rebuilds an error a worker sent (RegistryError, PurgeError…) in the primary. */
  fromWire(e: WireError): Error;
  /** Decides a worker's rate-limit question: one count for the group. */
  rate(q: RateQuestion): RateAnswer;
  /** A worker purged (or invalidated) something in its cache. */
  purged(from: Member, req: CachePurge): void;
  /** The metrics a worker sent once drained, told to stop (a `final` message): its last counts. */
  final?(from: Member, metrics: unknown): void;
  /**
   * A worker left, for whatever reason (exit, signal, replaced, retired): its IPC channel closed, after every
   * message it sent was handled; nothing more will come from it.
   */
  left?(m: Member): void;
}

export interface Group {
  /** Forks `n` workers and waits until every one listens; rejects (stopping them) if one exits first. */
  start(n: number): Promise<void>;
  /** The current workers, in slot order. */
  members(): Member[];
  /** The workers listening, in slot order. */
  ready(): Member[];
  /** One call to one worker. */
  call(m: Member, c: WorkerCall): Promise<unknown>;
  /**
   * A change for every worker: the first listening worker's answer (or error) is returned once every listening
   * worker has answered; one still starting gets it when it listens.
   */
  broadcast(c: WorkerCall): Promise<unknown>;
  /** A change for every worker but one, not waited for (one still starting gets it when it listens). */
  tellOthers(except: Member | undefined, c: WorkerCall): void;
  /** Every listening worker's answer (those that fail are left out). */
  gather(c: WorkerCall): Promise<unknown[]>;
  /**
   * As `gather`, each answer with the worker that gave it and the call's number (`order`, increasing across
   * calls); an answer from a worker that has left meanwhile (`left` was or is about to be called) is left out.
   */
  gatherEach(c: WorkerCall): Promise<{ member: Member; value: unknown; order: number }[]>;
  /** Grows or shrinks the group to `n` workers. */
  resize(n: number): Promise<void>;
  /** Replaces every worker, one at a time (one restart at a time: a call during one waits for it). */
  restart(): Promise<{ workers: number }>;
  /** Tells every worker to drain and waits for them (up to `timeoutMs`, then SIGKILL). */
  stop(timeoutMs: number): Promise<void>;
  /** Kills every worker at once (a second signal). */
  kill(): void;
}

export function createGroup(opts: GroupOptions): Group {
  const { log } = opts;
  const slots = new Map<number, Member>();
  const failures = new Map<number, number>();
  const pending = new Map<Worker, Map<number, { resolve(v: unknown): void; reject(e: Error): void }>>();
  let nextId = 0;
  let stopping = false;
  let restarting: Promise<{ workers: number }> | undefined;

  const tell = (m: Member, msg: ToWorker): void => {
    if (m.worker.isConnected()) m.worker.send(msg);
  };

  function onMessage(m: Member, msg: unknown): void {
    if (!isOurs<FromWorker>(msg)) return;
    if (msg.t === 'reply') {
      const waiting = pending.get(m.worker);
      const p = waiting?.get(msg.id);
      if (!p) return;
      waiting!.delete(msg.id);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(opts.fromWire(msg.error));
    } else if (msg.t === 'purged') {
      opts.purged(m, msg.req);
    } else if (msg.t === 'rate') {
      tell(m, { gh: 1, t: 'rate', id: msg.id, decision: opts.rate(msg) });
    } else if (msg.t === 'final') {
      opts.final?.(m, msg.metrics);
    }
  }

  function fork(slot: number): Member {
    const worker = cluster.fork({ [WORKER_ENV]: String(slot) });
    pending.set(worker, new Map());
    let markReady!: () => void, fail!: (e: Error) => void;
    const whenReady = new Promise<void>((res, rej) => { markReady = res; fail = rej; });
    whenReady.catch(() => undefined);
    const m: Member = { slot, worker, ready: false, retiring: false, startedAt: Date.now(), whenReady };
    worker.on('message', (msg: unknown) => {
      if (isOurs<FromWorker>(msg) && msg.t === 'ready') {
        m.ready = true;
        log.info({ worker: slot, pid: worker.process.pid }, `worker ${slot} (pid ${worker.process.pid}) is listening`);
        markReady();
        return;
      }
      onMessage(m, msg);
    });
    // The channel closes once the process is gone (or about to be): the messages it sent came before.
    worker.once('disconnect', () => opts.left?.(m));
    worker.on('exit', (code, signal) => {
      const why = signal ? `signal ${signal}` : `exit code ${code}`;
      fail(new Error(`worker ${slot} exited (${why}) before it was listening`));
      for (const p of pending.get(worker)?.values() ?? []) p.reject(new Error(`worker ${slot} exited (${why})`));
      pending.delete(worker);
      // A worker not (or no longer) in its slot (a new one that failed to start, one replaced) is not replaced.
      const mine = slots.get(slot) === m;
      if (mine) slots.delete(slot);
      if (!mine || m.retiring || stopping) return;
      replace(m, why);
    });
    return m;
  }

  /** A worker died: a new one in its slot, at once, or after a delay when the slot keeps dying. */
  function replace(dead: Member, why: string): void {
    const lived = Date.now() - dead.startedAt;
    const n = lived >= STABLE_MS ? 0 : (failures.get(dead.slot) ?? 0) + 1;
    failures.set(dead.slot, n);
    const delay = n <= 1 ? 0 : Math.min(250 * 2 ** (n - 2), BACKOFF_MAX_MS);
    log.error({ worker: dead.slot, pid: dead.worker.process.pid, lived_ms: lived }, `worker ${dead.slot} died (${why}); ${delay ? `replacing it in ${delay} ms (it keeps dying)` : 'replacing it now'}`);
    const again = (): void => {
      if (stopping || slots.has(dead.slot)) return;
      slots.set(dead.slot, fork(dead.slot));
    };
    if (delay) setTimeout(again, delay).unref();
    else again();
  }

  function call(m: Member, c: WorkerCall, id = ++nextId): Promise<unknown> {
    const waiting = pending.get(m.worker);
    if (!waiting || !m.worker.isConnected()) return Promise.reject(new Error(`worker ${m.slot} is gone`));
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      m.worker.send({ gh: 1, t: 'call', id, call: c } satisfies ToWorker);
    });
  }

  const members = (): Member[] => [...slots.values()].sort((a, b) => a.slot - b.slot);
  const ready = (): Member[] => members().filter((m) => m.ready);

  /** Waits for a new worker to listen; kills it and rejects if it does not within READY_TIMEOUT_MS. */
  async function started(m: Member): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(`worker ${m.slot} was not listening after ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS); });
    try {
      await Promise.race([m.whenReady, late]);
    } catch (err) {
      m.retiring = true;
      m.worker.process.kill('SIGKILL');
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  function retire(m: Member): void {
    m.retiring = true;
    tell(m, { gh: 1, t: 'stop', handoff: true });
  }

  async function restartAll(): Promise<{ workers: number }> {
    const old = members();
    for (const o of old) {
      if (stopping) break;
      const fresh = fork(o.slot);
      await started(fresh);
      // The slot may have been emptied meanwhile (the old one died and its replacement is starting): retire both.
      const current = slots.get(o.slot);
      slots.set(o.slot, fresh);
      if (current && current !== fresh) retire(current);
      if (o !== current && o.worker.isConnected()) retire(o);
      log.info({ worker: o.slot }, `worker ${o.slot} replaced (pid ${o.worker.process.pid} → ${fresh.worker.process.pid}); the old one drains`);
    }
    return { workers: slots.size };
  }

  return {
    async start(n) {
      // Read once, at the first fork (node:cluster freezes it then).
      if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_NONE;
      const scheduling = cluster.schedulingPolicy === cluster.SCHED_NONE ? 'kernel queue' : 'round robin';
      log.info({ scheduling }, `workers accept new connections by ${scheduling}`);
      for (let slot = 1; slot <= n; slot++) slots.set(slot, fork(slot));
      try {
        await Promise.all(members().map((m) => started(m)));
      } catch (err) {
        stopping = true;
        for (const m of members()) m.worker.process.kill('SIGKILL');
        throw err;
      }
    },
    members,
    ready,
    call,
    async broadcast(c) {
      const all = members();
      const listening = all.filter((m) => m.ready);
      for (const m of all.filter((x) => !x.ready)) m.whenReady.then(() => call(m, c)).catch(() => undefined);
      if (!listening.length) throw new Error('no worker is listening');
      const answers = await Promise.allSettled(listening.map((m) => call(m, c)));
      const first = answers[0]!;
      if (first.status === 'rejected') throw first.reason;
      return first.value;
    },
    tellOthers(except, c) {
      for (const m of members()) if (m !== except) m.whenReady.then(() => call(m, c)).catch(() => undefined);
    },
    async gather(c) {
      const answers = await Promise.allSettled(ready().map((m) => call(m, c)));
      return answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
    },
    async gatherEach(c) {
      const asked = ready().map((member) => ({ member, order: ++nextId }));
      const answers = await Promise.allSettled(asked.map((a) => call(a.member, c, a.order)));
      // Disconnected: its `left` has run (or runs next, its channel being closed), on figures older than these.
      return asked.flatMap((a, i) => {
        const r = answers[i]!;
        return r.status === 'fulfilled' && a.member.worker.isConnected() ? [{ ...a, value: r.value }] : [];
      });
    },
    async resize(n) {
      for (const m of members()) if (m.slot > n) { slots.delete(m.slot); retire(m); }
      const added: Member[] = [];
      for (let slot = 1; slot <= n; slot++) if (!slots.has(slot)) { const m = fork(slot); slots.set(slot, m); added.push(m); }
      await Promise.all(added.map((m) => started(m)));
    },
    restart() {
      restarting ??= restartAll().finally(() => { restarting = undefined; });
      return restarting;
    },
    async stop(timeoutMs) {
      stopping = true;
      const all = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      const exited = all.map((w) => new Promise<void>((r) => { if (w.isDead()) r(); else w.once('exit', () => r()); }));
      for (const w of all) if (w.isConnected()) w.send({ gh: 1, t: 'stop' } satisfies ToWorker);
      const timer = setTimeout(() => { for (const w of all) if (!w.isDead()) w.process.kill('SIGKILL'); }, timeoutMs);
      await Promise.all(exited);
      clearTimeout(timer);
    },
    kill() {
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
    },
  };
}
