/**
 * Editing traces in the format of josephg/editing-traces (`{startContent, endContent, txns: [{time, patches}]}`,
 * positions in code points, patches inside a txn applied in sequence), and their replay through a client syncing
 * against a server, as the shared trace vectors record it. Test data, not part of the engine: the tests import it
 * directly; the engine's index does not export it.
 */

import { SyncClient } from "./client";
import { SyncError } from "./errors";
import { hashToHex } from "./hash";
import { ServerDocument } from "./server";

/** A trace that could not be read. */
export class TraceError extends Error {
  constructor(detail: string) {
    super(`bad editing trace: ${detail}`);
    this.name = "TraceError";
  }
}

/** One patch: `[position, deleted, inserted]`. */
export type Patch = [number, number, string];

export interface Trace {
  startContent: string;
  endContent: string;
  /** Each transaction's patches. */
  txns: Patch[][];
}

/** Parses a trace's JSON (already decompressed). */
export function parseTrace(json: string): Trace {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new TraceError(String(error));
  }
  const object = raw as { startContent?: unknown; endContent?: unknown; txns?: unknown };
  if (typeof object.startContent !== "string" || typeof object.endContent !== "string" || !Array.isArray(object.txns)) {
    throw new TraceError("expected {startContent, endContent, txns}");
  }
  const txns = object.txns.map((txn: unknown): Patch[] => {
    const patches = (txn as { patches?: unknown }).patches;
    if (!Array.isArray(patches)) throw new TraceError("a txn without patches");
    return patches.map((patch: unknown): Patch => {
      if (
        !Array.isArray(patch) ||
        patch.length !== 3 ||
        typeof patch[0] !== "number" ||
        typeof patch[1] !== "number" ||
        typeof patch[2] !== "string"
      ) {
        throw new TraceError(`bad patch ${JSON.stringify(patch)}`);
      }
      return [patch[0], patch[1], patch[2]];
    });
  });
  return { startContent: object.startContent, endContent: object.endContent, txns };
}

/** Every patch of a trace, in order. */
export function* tracePatches(trace: Trace): Generator<Patch> {
  for (const txn of trace.txns) yield* txn;
}

/** The client's shadow after an exchange: which transaction, and the shadow's length (code points) and hash. */
export interface Checkpoint {
  edit_index: number;
  length: number;
  hash: string;
}

export interface ReplayOptions {
  /** Sync after every this many transactions (and after the last). */
  syncEvery: number;
  /** Record a checkpoint after every this many transactions (and after the last). */
  checkpointEvery: number;
}

/** What the shared trace vectors record (`sync/tests/vectors.rs`, `traces`). */
export const TRACE_VECTOR_REPLAY: ReplayOptions = { syncEvery: 10, checkpointEvery: 5000 };

/**
 * Replays a trace through one client and one server, as the Rust vectors do: every patch of a transaction is one
 * client splice; after every `syncEvery` transactions the client polls until it has nothing to send, each message
 * going to the server and its reply back, as bytes.
 */
export function replayTrace(
  trace: Trace,
  options: ReplayOptions = TRACE_VECTOR_REPLAY,
): { checkpoints: Checkpoint[]; client: SyncClient; server: ServerDocument } {
  const server = new ServerDocument(trace.startContent);
  const client = new SyncClient();
  const exchange = () => {
    for (let bytes = client.poll(); bytes !== undefined; bytes = client.poll()) {
      const [reply] = server.receive(1, bytes, 0);
      if (reply === undefined) throw new SyncError("Unexpected", "the server did not reply");
      client.receive(reply.bytes);
    }
  };
  exchange();
  const checkpoints: Checkpoint[] = [];
  const count = trace.txns.length;
  trace.txns.forEach((txn, index) => {
    for (const [pos, del, ins] of txn) client.splice(pos, del, ins);
    const done = index + 1;
    if (done % options.syncEvery === 0 || done === count) exchange();
    if (done % options.checkpointEvery === 0 || done === count) {
      checkpoints.push({ edit_index: done, length: client.shadowLength, hash: hashToHex(client.shadowHash) });
    }
  });
  return { checkpoints, client, server };
}
