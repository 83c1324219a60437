/**
 * Follows a Redis Sentinel failover as soon as it is announced. ioredis asks the sentinels for the master
 * only when its connection breaks: a dead master breaks it at once, but after a failover in which the old
 * master stays reachable (SENTINEL FAILOVER, a healed partition) Sentinel turns that one into a replica only
 * when it next looks at it, up to 10 s later, and until then the client would keep writing there. Every
 * sentinel publishes `+switch-master` ("NAME OLD-IP OLD-PORT NEW-IP NEW-PORT") when it switches: on that,
 * the client reconnects, which asks the sentinels again. (ioredis's own `failoverDetector` does the same,
 * but prints the errors of a sentinel that is down on stderr, outside the process log.)
 * A sentinel names the promoted replica (SENTINEL GET-MASTER-ADDR-BY-NAME) as soon as the failover has
 * reached its reconfiguration of the replicas, before it announces the switch (sentinel.c,
 * sentinelGetCurrentMasterAddress): a client that reconnected in between is already on the new master and
 * stays there.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

const CHANNEL = '+switch-master';

/** Whether `client`'s connection goes to `host`:`port` (an address as a sentinel announces it). */
function connectedTo(client: Redis, host: string, port: string): boolean {
  const s = client.stream;
  const remote = s?.remoteAddress?.replace(/^::ffff:/i, '').toLowerCase();
  return remote !== undefined && String(s.remotePort) === port && remote === host.replace(/^::ffff:/i, '').toLowerCase();
}

/** Watches every sentinel of `options` for a switch of `options.name`; the function returned stops it. */
export function followSwitches(client: Redis, options: RedisOptions, log: Logger): () => void {
  const watchers = (options.sentinels ?? []).map((s) => {
    const where = `${s.host ?? '127.0.0.1'}:${s.port ?? 26379}`;
    const w = new Redis({
      host: s.host ?? '127.0.0.1',
      port: s.port ?? 26379,
      ...(options.sentinelPassword ? { password: options.sentinelPassword } : {}),
      ...(options.sentinelTLS ? { tls: options.sentinelTLS } : {}),
      enableOfflineQueue: false,
      autoResubscribe: false,
      enableReadyCheck: false,
      // A sentinel that is down is tried again every few seconds; the others still announce a switch.
      retryStrategy: (times) => Math.min(times * 500, 5000),
    });
    w.on('error', (err: Error) => log.debug({ err: err.message, sentinel: where }, 'redis sentinel'));
    // Subscribed again on each connection (no offline queue to hold the command while the sentinel is away).
    w.on('ready', () => { w.subscribe(CHANNEL).catch((err: Error) => log.debug({ err: err.message, sentinel: where }, 'redis sentinel: subscribe failed')); });
    w.on('message', (channel: string, text: string) => {
      const [name, , , host, port] = text.split(' ');
      if (channel !== CHANNEL || name !== options.name || host === undefined || port === undefined) return;
      // Only a client that is connected moves: one still connecting asks the sentinels anyway, and
      // disconnecting it then would end it for good.
      if (client.status !== 'ready' && client.status !== 'connect') return;
      const master = `${host}:${port}`;
      // Already there (it reconnected after the sentinels started naming the new master, which they do
      // before announcing it): moving again would only leave the instance counting alone for a while.
      if (connectedTo(client, host, port)) {
        log.debug({ sentinel: where, master }, 'redis sentinel: failover, already connected to the new master');
        return;
      }
      log.info({ sentinel: where, master }, 'redis sentinel: failover, reconnecting to the new master');
      client.disconnect(true);
    });
    return w;
  });
  return () => { for (const w of watchers) w.disconnect(); };
}
