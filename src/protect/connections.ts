/** Connection caps: per client address and in total, checked on accept; the excess is closed at once. */
import type { Socket } from 'node:net';

export function connectionCaps(perClient: number, total: number): (socket: Socket) => boolean {
  const byIp = new Map<string, number>();
  let open = 0;
  return (socket) => {
    const ip = socket.remoteAddress ?? '';
    const mine = byIp.get(ip) ?? 0;
    if ((total > 0 && open >= total) || (perClient > 0 && mine >= perClient)) return false;
    open++;
    byIp.set(ip, mine + 1);
    socket.once('close', () => {
      open--;
      const n = (byIp.get(ip) ?? 1) - 1;
      if (n <= 0) byIp.delete(ip);
      else byIp.set(ip, n);
    });
    return true;
  };
}
