import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { Logger } from "@budmetrics/logger";

/** HTTP_REQUESTS_PER_TURN's default (server-config.ts) and the host's when none is given. */
export const DEFAULT_REQUESTS_PER_TURN = 32;

/**
 * Dispatches at most `perTurn` requests per event-loop turn; the others wait, in arrival order, for
 * the next turns.
 *
 * Why: since libuv 1.45 (libuv#3696) a listening socket accepts one connection per event-loop turn.
 * A busy server whose turn serves every ready connection (a thousand clients, ~100 µs each) takes
 * ~100 ms per turn, so a burst of new connections waits in the kernel's accept queue for seconds and
 * clients time out although every answer is fast. Bounding the work of a turn keeps turns short:
 * the clients of a keep-alive connection send their next request only after the answer, so the
 * requests arriving in a turn are about as many as were answered in the one before.
 *
 * Measured (docs/QUERY.md, Benchmark): 1,000 connections on one cached answer, all accepted within
 * 0.7–1.8 s instead of 10 s, no timeouts instead of 168–192, throughput within a few percent.
 * `perTurn` 0 turns the budget off (the listener is returned as is).
 */
export function withTurnBudget(listener: RequestListener, perTurn: number, log: Logger): RequestListener {
  if (perTurn <= 0) return listener;
  const queue: Array<[IncomingMessage, ServerResponse]> = [];
  let dispatched = 0; // requests dispatched in the current turn
  let scheduled = false;

  const dispatch = (req: IncomingMessage, res: ServerResponse): void => {
    // The client went away while its request waited: nobody is left to answer.
    if (res.destroyed || req.socket.destroyed) return;
    try {
      listener(req, res);
    } catch (err) {
      log.error({ err, path: req.url }, "request listener threw");
      res.destroy();
    }
  };

  // Runs in the check phase, after the turn's poll phase (reads and the one accept). Immediates
  // queued from inside an immediate run in the next turn, so each turn dispatches one share.
  const endOfTurn = (): void => {
    scheduled = false;
    for (const [req, res] of queue.splice(0, perTurn - dispatched)) dispatch(req, res);
    dispatched = 0;
    if (queue.length > 0) schedule();
  };
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(endOfTurn);
  };

  return (req, res) => {
    schedule();
    if (queue.length === 0 && dispatched < perTurn) {
      dispatched++;
      dispatch(req, res);
      return;
    }
    queue.push([req, res]);
  };
}
