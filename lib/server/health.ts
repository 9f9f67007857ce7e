/**
 * `GET /healthz` for load balancers and service managers: 200 while the
 * server serves, 503 while it drains at shutdown or while its cluster link
 * (Redis) is down, with a plain-text body saying why. Cheap (no I/O) and
 * unauthenticated. The answers are pure values: whatever listener serves
 * the HTTP port writes them ({@linkcode serviceRoute} picks the path).
 *
 * @module
 */

/** A plain answer to an HTTP request. */
export interface HttpAnswer {
  status: number;
  /** The body (not sent for HEAD). */
  body: string;
  /** Headers besides the listener's own (a content type). */
  headers?: Record<string, string>;
}

/** What the health answer reads. */
export interface HealthState {
  /** The server is shutting down (draining its clients). */
  draining: boolean;
  /** The link to the other nodes is down (`--redis` only). */
  linkDown: boolean;
  /** Members connected now. */
  members: number;
  /** Why the store is not writing (null when it is, or when there is none). */
  storeProblem: string | null;
}

/**
 * The answer to `GET /healthz`.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { healthAnswer } from "./health.ts";
 *
 * const state = { draining: false, linkDown: false, members: 3, storeProblem: null };
 * equal(healthAnswer(state).status, 200);
 * equal(healthAnswer({ ...state, draining: true }).status, 503);
 * ```
 */
export function healthAnswer(state: HealthState): HttpAnswer {
  const problems: string[] = [];
  if (state.draining) problems.push("draining: the server is shutting down");
  if (state.linkDown) problems.push("cluster link down: Redis does not answer");
  const notes = state.storeProblem === null ? [] : [`store: ${state.storeProblem}`];
  const lines = problems.length > 0
    ? ["unavailable", ...problems, ...notes]
    : [`ok: serving ${state.members} ${state.members === 1 ? "member" : "members"}`, ...notes];
  return {
    status: problems.length > 0 ? 503 : 200,
    body: lines.join("\n") + "\n",
    headers: { "cache-control": "no-store" },
  };
}

/** The paths of the service endpoints. */
export const HEALTH_PATH = "/healthz";
export const METRICS_PATH = "/metrics";

/** What {@linkcode serviceRoute} serves. */
export interface ServiceEndpoints {
  health: () => HealthState;
  /** The `/metrics` answer; absent when metrics are off (the path is then not found). */
  metrics?: () => Promise<HttpAnswer>;
}

/**
 * The answer for `path` when it is a service endpoint, else null (the page
 * or a 404 answers).
 */
export function serviceRoute(
  endpoints: ServiceEndpoints,
  path: string,
): Promise<HttpAnswer> | null {
  if (path === HEALTH_PATH) return Promise.resolve(healthAnswer(endpoints.health()));
  if (path === METRICS_PATH && endpoints.metrics !== undefined) return endpoints.metrics();
  return null;
}
