// Signs every request a route sends upstream, so the origin can tell it came through Gatehouse:
// X-Gatehouse-Signature: t=TIME,v1=HEX(HMAC-SHA256(secret, METHOD \n PATH \n TIME)).
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { definePlugin, setHeader } from '../../src/index.js';

export const plugin = definePlugin({
  name: 'header_signer',
  // `plugins.header_signer`: settings for every route.
  schema: z.strictObject({
    secret: z.string().min(32, 'at least 32 characters').describe('Shared with the origins'),
  }),
  // `routes[].plugins.header_signer`: the routes that sign, and how.
  routeSchema: z.strictObject({
    header: z.string().regex(/^[a-z0-9-]+$/, 'a lower-case header name').default('x-gatehouse-signature'),
  }),
  create(cfg, app) {
    app.log.info('signing requests');
    return {
      forRoute(route) {
        return {
          upstreamRequestFilter(_ctx, req) {
            const time = String(Math.floor(Date.now() / 1000));
            const mac = createHmac('sha256', cfg.secret).update(`${req.method}\n${req.path}\n${time}`).digest('hex');
            // Replaces any value the client sent: a signature cannot be forged from outside.
            setHeader(req.headers, route.header, `t=${time},v1=${mac}`);
          },
        };
      },
    };
  },
});
