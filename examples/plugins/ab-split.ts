// An A/B split by cookie: a client without the cookie is given a variant by weight and keeps it (the
// cookie is set on the response); each variant is one server of the route's upstream.
import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { cookieValue, definePlugin, setHeader, stateKey } from '../../src/index.js';

const kVariant = stateKey<{ name: string; isNew: boolean }>('ab_split.variant');

const variant = z.strictObject({
  server: z.url().describe('One of the upstream\'s servers, as written there'),
  weight: z.number().int().min(0).default(1).describe('Share of new clients'),
});

export const plugin = definePlugin({
  name: 'ab_split',
  routeSchema: z.strictObject({
    cookie: z.string().regex(/^[\w-]+$/).default('variant'),
    variants: z.record(z.string().regex(/^[\w-]+$/), variant)
      .refine((v) => Object.values(v).some((x) => x.weight > 0), 'at least one variant needs a weight above 0'),
  }),
  create() {
    return {
      forRoute(route) {
        const names = Object.keys(route.variants);
        const total = names.reduce((sum, n) => sum + route.variants[n]!.weight, 0);
        const draw = (): string => {
          let n = randomInt(total);
          return names.find((name) => (n -= route.variants[name]!.weight) < 0)!;
        };
        return {
          requestFilter(ctx) {
            const had = cookieValue(ctx.req.header('cookie'), route.cookie);
            const name = had !== undefined && Object.hasOwn(route.variants, had) ? had : draw();
            ctx.set(kVariant, { name, isNew: name !== had });
            return undefined; // go on to the upstream
          },
          upstreamPeer(ctx, choice) {
            const url = route.variants[ctx.get(kVariant)!.name]!.server.replace(/\/$/, '');
            return choice.peers.find((peer) => peer.url === url); // when it is down, the balancer picks
          },
          upstreamRequestFilter(ctx, req) {
            setHeader(req.headers, 'x-variant', ctx.get(kVariant)!.name);
          },
          responseFilter(ctx, res) {
            const v = ctx.get(kVariant);
            if (v?.isNew) res.headers.push('set-cookie', `${route.cookie}=${v.name}; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax`);
          },
        };
      },
    };
  },
});
