/**
 * Editing traces in the format of josephg/editing-traces (`{startContent, endContent, txns: [{time, patches}]}`,
 * positions in code points, patches inside a txn applied in sequence), and their replay through a client syncing
 * against a server, as the shared trace vectors record it.
 */

import { SyncClient } from "./client";
import { SyncError } from "./errors";
import { hashToHex } from "./hash";
import { ServerDocument } from "./server";

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
    throw new SyncError("Trace", String(error));
  }
  const object = raw as { startContent?: unknown; endContent?: unknown; txns?: unknown };
  if (typeof object.startContent !== "string" || typeof object.endContent !== "string" || !Array.isArray(object.txns)) {
    throw new SyncError("Trace", "expected {startContent, endContent, txns}");
  }
  const txns = object.txns.map((txn: unknown): Patch[] => {
    const patches = (txn as { patches?: unknown }).patches;
    if (!Array.isArray(patches)) throw new SyncError("Trace", "a txn without patches");
    return patches.map((patch: unknown): Patch => {
      if (
        !Array.isArray(patch) ||
        patch.length !== 3 ||
        typeof patch[0] !== "number" ||
        typeof patch[1] !== "number" ||
        typeof patch[2] !== "string"
      ) {
        throw new SyncError("Trace", `bad patch ${JSON.stringify(patch)}`);
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

/** The state after a sync: which edit, and the agreed text's length (code points) and hash (16 hex digits). */
export interface Checkpoint {
  edit_index: number;
  length: number;
  hash: string;
}

export interface ReplayOptions {
  /** Sync after this many edits. */
  every: number;
  /** Stop after this many edits (all when absent). */
  limit?: number;
}

/**
 * Replays a trace through one client and one server: each patch is one client edit; after every `every` edits (and
 * after the last) the client syncs and the reply is delivered. Returns the checkpoint after each sync and the final
 * texts.
 */
export function replayTrace(trace: Trace, options: ReplayOptions): { checkpoints: Checkpoint[]; client: SyncClient; server: ServerDocument } {
  const server = new ServerDocument(trace.startContent);
  const client = new SyncClient();
  const clientId = 1;
  const exchange = () => {
    const bytes = client.poll();
    if (bytes === undefined) return;
    for (const out of server.receive(clientId, bytes, 0)) client.receive(out.bytes);
  };
  exchange(); // first contact
  const checkpoints: Checkpoint[] = [];
  let edits = 0;
  const checkpoint = () => {
    exchange();
    checkpoints.push({ edit_index: edits, length: server.length, hash: hashToHex(server.hash) });
  };
  for (const [pos, del, ins] of tracePatches(trace)) {
    if (options.limit !== undefined && edits >= options.limit) break;
    client.splice(pos, del, ins);
    edits += 1;
    if (edits % options.every === 0) checkpoint();
  }
  if (edits % options.every !== 0) checkpoint();
  return { checkpoints, client, server };
}
