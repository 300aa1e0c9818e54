/**
 * The shared vectors in `sync/vectors/`, written by the Rust engine (`sync/tests/vectors.rs`): the TypeScript twin
 * must reproduce every hash, byte, error kind, text and checkpoint in them. Every file there is checked; a file this
 * test does not know fails, so a new kind of vector cannot go unchecked on this side.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";

import { describe, expect, test } from "vitest";

import { SyncClient, type ClientEvent } from "./client";
import {
  applyToString,
  checkBase,
  compose,
  decodeDelta,
  deltaFromJson,
  deltaToJson,
  encodeDelta,
  isCanonical,
  MAX_DOCUMENT_BYTES,
  transform,
} from "./delta";
import { diff } from "./dmp";
import { boundaries, isBoundary } from "./grapheme";
import { isSyncError } from "./errors";
import { hashText, hashToHex } from "./hash";
import { ServerDocument } from "./server";
import { fromHex, toHex } from "./test-util";
import { Text } from "./text";
import { parseTrace, replayTrace } from "./trace";
import { decodeClient, decodeServer, encodeMessage, messageFromJson, messageToJson } from "./wire";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const VECTORS = join(HERE, "../../../sync/vectors");
const TRACES = join(HERE, "../../../tests/data/editing-traces");

const files = existsSync(VECTORS) ? readdirSync(VECTORS).filter((name) => name.endsWith(".json")).sort() : [];

function load(name: string): unknown {
  return JSON.parse(readFileSync(join(VECTORS, name), "utf8"));
}

/** The error kind `work` throws, or "none". */
function kindOf(work: () => unknown): string {
  try {
    work();
    return "none";
  } catch (error) {
    if (isSyncError(error)) return error.kind;
    throw error;
  }
}

type Json = Record<string, unknown>;

function isArrayOf(value: unknown, keys: string[]): value is Json[] {
  return Array.isArray(value) && value.every((item) => typeof item === "object" && item !== null && keys.every((key) => key in item));
}

/** Replays a recorded two-client session: every byte, text and failure must be what the Rust engine recorded. */
function checkSession(data: unknown): void {
  const { initial, steps } = data as { initial: string; steps: unknown };
  expect(typeof initial).toBe("string");
  expect(isArrayOf(steps, ["step"])).toBe(true);
  let server = new ServerDocument(initial);
  const clients = [new SyncClient(), new SyncClient()];
  const hex = (bytes: Uint8Array | undefined) => (bytes === undefined ? null : toHex(bytes));
  (steps as Json[]).forEach((step, index) => {
    const where = `step ${index} (${String(step["step"])})`;
    const client = clients[step["client"] as number]!;
    switch (step["step"]) {
      case "edit":
        client.splice(step["pos"] as number, step["del"] as number, step["ins"] as string);
        expect([where, client.text]).toEqual([where, step["text"]]);
        break;
      case "poll":
        expect([where, hex(client.poll())]).toEqual([where, step["hex"]]);
        break;
      case "retransmit":
        expect([where, hex(client.retransmit())]).toEqual([where, step["hex"]]);
        break;
      case "server_receive": {
        const outcome = server.receiveMessage(step["client"] as number, decodeClient(fromHex(step["hex"] as string)), index);
        const reply = outcome.reply === undefined ? null : toHex(encodeMessage(outcome.reply));
        expect([where, reply, outcome.nudge, server.text]).toEqual([where, step["reply"], step["nudge"], step["text"]]);
        break;
      }
      case "client_receive": {
        const events: ClientEvent[] = client.receive(fromHex(step["hex"] as string));
        const failed = events.flatMap((event) => (event.type === "failed" ? [event.dropped] : []));
        expect([where, client.text, client.isSynced, failed]).toEqual([where, step["text"], step["synced"], step["failed"]]);
        break;
      }
      case "server_restart":
        server = new ServerDocument(server.text, { applied: server.appliedVersions() });
        break;
      default:
        throw new Error(`${where}: unknown step`);
    }
  });
}

const checkers: Record<string, (data: unknown) => void> = {
  "hashes.json": (data) => {
    expect(isArrayOf(data, ["text", "hash"])).toBe(true);
    for (const { text, hash } of data as { text: string; hash: string }[]) {
      expect([text.slice(0, 40), hashToHex(hashText(text))]).toEqual([text.slice(0, 40), hash]);
      expect(hashToHex(Text.from(text).hash())).toBe(hash);
    }
  },

  "deltas.json": (data) => {
    const { valid, invalid } = data as { valid: unknown; invalid: unknown };
    expect(isArrayOf(valid, ["base", "ops", "hex", "result"])).toBe(true);
    expect(isArrayOf(invalid, ["hex", "base_len", "error"])).toBe(true);
    for (const vector of valid as { base: string; ops: unknown; hex: string; result: string }[]) {
      const delta = deltaFromJson(vector.ops);
      expect(isCanonical(delta)).toBe(true);
      expect(toHex(encodeDelta(delta))).toBe(vector.hex);
      expect(deltaToJson(decodeDelta(fromHex(vector.hex)))).toEqual(vector.ops);
      expect(applyToString(delta, vector.base)).toBe(vector.result);
      expect(Text.from(vector.base).apply(delta).toString()).toBe(vector.result);
    }
    for (const vector of invalid as { hex: string; base_len: number; error: string }[]) {
      const kind = kindOf(() => checkBase(decodeDelta(fromHex(vector.hex), MAX_DOCUMENT_BYTES), vector.base_len));
      expect([vector.hex, kind]).toEqual([vector.hex, vector.error]);
    }
  },

  "compose.json": (data) => {
    expect(isArrayOf(data, ["base", "a", "b", "composed"])).toBe(true);
    for (const vector of data as { base: string; a: unknown; b: unknown; composed: unknown }[]) {
      const a = deltaFromJson(vector.a);
      const b = deltaFromJson(vector.b);
      const composed = compose(a, b);
      expect(deltaToJson(composed)).toEqual(vector.composed);
      expect(applyToString(composed, vector.base)).toBe(applyToString(b, applyToString(a, vector.base)));
    }
  },

  "transform.json": (data) => {
    expect(isArrayOf(data, ["base", "a", "b", "a_after_b_a_first", "b_after_a_b_second", "result"])).toBe(true);
    for (const vector of data as Json[]) {
      const base = vector["base"] as string;
      const a = deltaFromJson(vector["a"]);
      const b = deltaFromJson(vector["b"]);
      const aAfterB = transform(a, b, true);
      const bAfterA = transform(b, a, false);
      expect(deltaToJson(aAfterB)).toEqual(vector["a_after_b_a_first"]);
      expect(deltaToJson(bAfterA)).toEqual(vector["b_after_a_b_second"]);
      expect(applyToString(aAfterB, applyToString(b, base))).toBe(vector["result"]);
      expect(applyToString(bAfterA, applyToString(a, base))).toBe(vector["result"]);
    }
  },

  "messages.json": (data) => {
    const { valid, invalid } = data as { valid: unknown; invalid: unknown };
    expect(isArrayOf(valid, ["direction", "message", "hex"])).toBe(true);
    expect(isArrayOf(invalid, ["direction", "hex", "error"])).toBe(true);
    for (const vector of valid as { direction: string; message: Json; hex: string }[]) {
      const bytes = fromHex(vector.hex);
      const decoded = vector.direction === "client" ? decodeClient(bytes) : decodeServer(bytes);
      expect(messageToJson(decoded)).toEqual(vector.message);
      expect(toHex(encodeMessage(messageFromJson(vector.message)))).toBe(vector.hex);
    }
    for (const vector of invalid as { direction: string; hex: string; error: string }[]) {
      const decode = vector.direction === "client" ? decodeClient : decodeServer;
      expect([vector.direction, vector.hex, kindOf(() => decode(fromHex(vector.hex)))]).toEqual([
        vector.direction,
        vector.hex,
        vector.error,
      ]);
    }
  },

  "sessions.json": (data) => checkSession(data),

  // Two people typing at one spot: ties, the run rule and the cluster rules, byte for byte.
  "merges.json": (data) => checkSession(data),

  "graphemes.json": (data) => {
    expect(isArrayOf(data, ["text", "boundaries", "windowed"])).toBe(true);
    for (const vector of data as { text: string; boundaries: number[]; windowed: number[] }[]) {
      // Intl.Segmenter must split every text exactly as unicode-segmentation does.
      expect([vector.text, boundaries(vector.text)]).toEqual([vector.text, vector.boundaries]);
      const text = Text.from(vector.text);
      const windowed: number[] = [];
      for (let pos = 0; pos <= text.length; pos++) if (isBoundary(text, pos)) windowed.push(pos);
      expect([vector.text, windowed]).toEqual([vector.text, vector.windowed]);
    }
  },

  "diffs.json": (data) => {
    expect(isArrayOf(data, ["old", "new", "delta"])).toBe(true);
    for (const vector of data as { old: string; new: string; delta: unknown }[]) {
      const delta = diff(vector.old, vector.new, 1000);
      expect([vector.old, vector.new, deltaToJson(delta)]).toEqual([vector.old, vector.new, vector.delta]);
    }
  },

  "traces.json": (data) => {
    expect(typeof data === "object" && data !== null && !Array.isArray(data)).toBe(true);
    for (const [name, expected] of Object.entries(data as Record<string, unknown>)) {
      expect(isArrayOf(expected, ["edit_index", "length", "hash"])).toBe(true);
      const trace = parseTrace(gunzipSync(readFileSync(join(TRACES, name))).toString("utf8"));
      const { checkpoints, client, server } = replayTrace(trace);
      expect([name, checkpoints]).toEqual([name, expected]);
      expect(client.text === trace.endContent && server.text === trace.endContent).toBe(true);
    }
  },
};

describe("shared vectors", () => {
  test("every vector file is one this twin checks", () => {
    expect(files.filter((name) => !(name in checkers))).toEqual([]);
  });

  for (const name of files) {
    test(name, () => {
      const check = checkers[name];
      if (check === undefined) throw new Error(`${name}: no checker for this vector file; add one`);
      check(load(name));
    });
  }
});
