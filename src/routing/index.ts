/**
 * Routing: the compiled route table, path rewrites, header changes and the respond/redirect actions.
 * Hooks: requestFilter (respond, redirect), upstreamRequestFilter (rewrite, request headers),
 * responseFilter (response headers). The table is used by the kernel to set `ctx.route`.
 */
import { addHeader, removeHeader, setHeader } from '../core/headers.js';
import { definePlugin, type Hooks, type Phases } from '../core/plugin.js';
import { redirectHandler, respondReply } from './actions.js';
import { compileRewrite } from './rewrite.js';
import type { HeaderOpsConfig, HeadersConfig, MatchConfig, RedirectConfig, RespondConfig, RewriteConfig } from './schema.js';
import { indexOf, slice } from '../core/strings.js';

export { RouteTable, conditionMismatch, type CompiledRoute, type RouteInput } from './table.js';
export { compileRewrite, compileUnrewrite, type PathRewriter } from './rewrite.js';
export { explainRoute, type RouteVerdict } from './explain.js';
export { shadowedRoutes } from './shadow.js';
export * from './schema.js';

/** The parts of a route config this capability reads. */
export interface RoutingRoute {
  name?: string | undefined;
  match: MatchConfig;
  rewrite?: RewriteConfig | undefined;
  headers?: HeadersConfig | undefined;
  respond?: RespondConfig | undefined;
  redirect?: RedirectConfig | undefined;
}

function headerOps(ops: HeaderOpsConfig): (list: string[]) => void {
  const remove = (ops.remove ?? []).map((n) => n.toLowerCase());
  const set = Object.entries(ops.set ?? {});
  const add = Object.entries(ops.add ?? {});
  return (list) => {
    for (const n of remove) removeHeader(list, n);
    for (const [n, v] of set) setHeader(list, n, v);
    for (const [n, v] of add) addHeader(list, n, v);
  };
}

/** An upstream path (with its query) with the path part rewritten; the query as it is. */
function rewritten(rewrite: (path: string) => string, target: string): string {
  const q = indexOf(target, '?');
  return q === -1 ? rewrite(target) : rewrite(slice(target, 0, q)) + slice(target, q);
}

export const routing = definePlugin<unknown, RoutingRoute>({
  name: 'routing',
  create() {
    return {
      forRoute(route) {
        const hooks: Hooks = {};
        if (route.respond) {
          const reply = respondReply(route.respond);
          hooks.requestFilter = () => reply;
        } else if (route.redirect) {
          hooks.requestFilter = redirectHandler(route.redirect);
        }
        const rewrite = compileRewrite(route.rewrite);
        const reqOps = route.headers?.request && headerOps(route.headers.request);
        const resOps = route.headers?.response && headerOps(route.headers.response);
        if (rewrite || reqOps) {
          const filter: Phases['upstreamRequestFilter'] = (_ctx, req) => {
            if (rewrite) req.path = rewritten(rewrite, req.path);
            if (reqOps) reqOps(req.headers);
          };
          hooks.upstreamRequestFilter = filter;
        }
        if (resOps) hooks.responseFilter = (_ctx, res) => resOps(res.headers);
        return Object.keys(hooks).length ? hooks : undefined;
      },
    };
  },
});
