/**
 * Two or three people typing at the same place at the same time (PROTOCOL.md §2, "Merging"), the TypeScript twin of
 * `sync/tests/same_place.rs`. Every person starts with the cursor at the same spot and types a run of keystrokes
 * there (letters, emoji with joiners, flags, combining marks, Hangul jamo, CRLF), each keystroke its own splice and,
 * whenever nothing is in flight, its own message; replies cross, the network delays, reorders, loses and duplicates.
 * Cursors follow remote changes as CodeMirror maps them (a cursor stays before text inserted exactly at it). At
 * quiescence the text must be the start with every run inserted whole at the spot, in some order, and every
 * grapheme cluster whole. Each trial prints its seed; `SIM_SEED=<n> npm test -- samePlace` adds a run with it.
 */
import { describe, expect, test } from "vitest";

import { SyncClient } from "./client";
import type { Delta } from "./delta";
import { ServerDocument } from "./server";
import { Rng } from "./test-util";
import { cpLength } from "./unicode";
import { decodeClient, DEFAULT_LIMITS, encodeMessage } from "./wire";

const CLUSTERS = [
  "a", "b", "c", "x", "y", " ", "é", "e\u0301", "n\u0303\u0323", "👩\u200d👩\u200d👧", "🇫🇷", "🇩🇪", "👍🏽",
  "1\ufe0f\u20e3", "\u1112\u1161\u11ab", "\r\n",
];
const START = "Before 🇫🇷 e\u0301\r\nHere:[] after 👩\u200d👩\u200d👧\n";
const SPOT = cpLength(START.slice(0, START.indexOf("[]") + 1));

interface Plan {
  clients: number;
  keystrokes: number;
  loss: number;
  duplication: number;
  maxDelay: number;
  /** Type each cluster one code point at a time. */
  codePoints: boolean;
  /** Type each keystroke in front of the previous one; the cursor then stays with the person's own text after it. */
  backward: boolean;
  /** Percent chance per tick that the server forgets a view. */
  forget: number;
  maxLog: number;
}

interface Person {
  client: SyncClient;
  cursor: number;
  toType: string[];
  typed: string;
  sentAt: number;
}

interface Packet {
  at: number;
  toServer: boolean;
  person: number;
  bytes: Uint8Array;
}

/** Maps a cursor through a delta, keeping it before text inserted exactly at it, or with `after`, past it. */
function mapCursor(delta: Delta, position: number, after: boolean): number {
  let base = 0;
  let out = 0;
  for (const op of delta) {
    if (op.kind === "retain") {
      if (position < base + op.n) return out + position - base;
      base += op.n;
      out += op.n;
    } else if (op.kind === "delete") {
      if (position < base + op.n) return out;
      base += op.n;
    } else {
      if (position === base && !after) return out;
      out += op.n;
    }
  }
  return out;
}

function run(seed: number, plan: Plan): { text: string; runs: string[] } {
  const rng = new Rng(seed);
  const limits = { ...DEFAULT_LIMITS, maxLog: plan.maxLog };
  const server = new ServerDocument(START, { limits });
  const people: Person[] = Array.from({ length: plan.clients }, () => {
    const toType: string[] = [];
    for (let i = 0; i < plan.keystrokes; i++) {
      const cluster = rng.pick(CLUSTERS);
      toType.push(...(plan.codePoints ? Array.from(cluster) : [cluster]));
    }
    return { client: new SyncClient({ limits }), cursor: SPOT, toType: toType.reverse(), typed: "", sentAt: 0 };
  });
  people.forEach((person, index) => {
    const outgoing = server.receive(index, person.client.poll()!, 0);
    person.client.receive(outgoing[0]!.bytes);
    expect(person.client.text).toBe(START);
  });
  let network: Packet[] = [];
  let now = 0;
  const send = (lossy: boolean, toServer: boolean, person: number, bytes: Uint8Array) => {
    if (lossy && rng.chance(plan.loss)) return;
    const copies = lossy && rng.chance(plan.duplication) ? 2 : 1;
    for (let i = 0; i < copies; i++) network.push({ at: now + 1 + rng.int(plan.maxDelay), toServer, person, bytes });
  };
  for (let quiet = 0; quiet < 400; ) {
    now += 1;
    const typing = people.some((person) => person.toType.length > 0);
    for (const person of people) {
      if (person.toType.length > 0 && rng.chance(0.6)) {
        const keystroke = person.toType.pop()!;
        person.client.splice(person.cursor, 0, keystroke);
        if (plan.backward) person.typed = keystroke + person.typed;
        else {
          person.cursor += cpLength(keystroke);
          person.typed += keystroke;
        }
      }
    }
    people.forEach((person, index) => {
      let bytes = person.client.poll();
      if (bytes === undefined && person.client.isInFlight && now - person.sentAt > 12) bytes = person.client.retransmit();
      if (bytes === undefined && !typing && !person.client.isInFlight) {
        person.client.requestSync();
        bytes = person.client.poll();
      }
      if (bytes !== undefined) {
        person.sentAt = now;
        send(typing, true, index, bytes);
      }
    });
    const due = network.filter((packet) => packet.at <= now);
    network = network.filter((packet) => packet.at > now);
    for (let i = due.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [due[i], due[j]] = [due[j]!, due[i]!];
    }
    for (const packet of due) {
      if (packet.toServer) {
        const outcome = server.receiveMessage(packet.person, decodeClient(packet.bytes), now);
        if (outcome.reply !== undefined) send(typing, false, packet.person, encodeMessage(outcome.reply));
        for (const other of outcome.nudge) send(typing, false, other, encodeMessage({ type: "Nudge" }));
      } else {
        const person = people[packet.person]!;
        for (const event of person.client.receive(packet.bytes)) {
          if (event.type === "changed") person.cursor = mapCursor(event.delta, person.cursor, plan.backward);
          if (event.type === "failed" || event.type === "serverError") throw new Error(`seed=${seed}: ${JSON.stringify(event)}`);
        }
      }
    }
    if (typing && plan.forget > 0 && rng.chance(plan.forget / 100)) server.forgetView(rng.int(people.length));
    const settled =
      !typing &&
      network.length === 0 &&
      people.every((p) => !p.client.isInFlight && !p.client.hasUnacknowledged && p.client.text === server.text);
    quiet = settled ? quiet + 100 : typing ? 0 : quiet + 1;
  }
  for (const person of people) expect(person.client.text).toBe(server.text);
  return { text: server.text, runs: people.map((person) => person.typed) };
}

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((rest) =>
    Array.from({ length: rest.length + 1 }, (_, slot) => [...rest.slice(0, slot), n - 1, ...rest.slice(slot)]),
  );
}

const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });
const clusters = (text: string) => Array.from(segmenter.segment(text), (part) => part.segment);

/**
 * What the diff paths promise (a resync, or a revision log that no longer reaches back, learn the other side's changes
 * from a diff, which cannot tell two equal clusters apart): the text around the spot is intact and the spot holds
 * exactly the clusters people typed, none lost, doubled or cut. Returns whether the runs also stayed whole.
 */
function checkClusters(seed: number, plan: Plan, text: string, runs: string[]): boolean {
  const chars = Array.from(START);
  const before = chars.slice(0, SPOT).join("");
  const after = chars.slice(SPOT).join("");
  const where = `seed=${seed} ${JSON.stringify(plan)}`;
  expect([where, text.startsWith(before) && text.endsWith(after)]).toEqual([where, true]);
  const middle = text.slice(before.length, text.length - after.length);
  expect([where, clusters(middle).sort()]).toEqual([where, runs.flatMap(clusters).sort()]);
  return permutations(runs.length).some((order) => order.map((index) => runs[index]).join("") === middle);
}

function check(seed: number, plan: Plan, text: string, runs: string[]): void {
  const chars = Array.from(START);
  const before = chars.slice(0, SPOT).join("");
  const after = chars.slice(SPOT).join("");
  const where = `seed=${seed} ${JSON.stringify(plan)}`;
  expect([where, text.startsWith(before) && text.endsWith(after)]).toEqual([where, true]);
  const middle = text.slice(before.length, text.length - after.length);
  const order = permutations(runs.length).find((candidate) => candidate.map((index) => runs[index]).join("") === middle);
  // Nothing lost, nothing doubled, no run interleaved with another.
  expect([where, order === undefined ? `${middle} from ${JSON.stringify(runs)}` : "whole runs"]).toEqual([where, "whole runs"]);
  const expected = [...clusters(before), ...order!.flatMap((index) => clusters(runs[index]!)), ...clusters(after)];
  expect([where, clusters(text)]).toEqual([where, expected]);
}

const BASE: Plan = {
  clients: 2,
  keystrokes: 12,
  loss: 0.1,
  duplication: 0.1,
  maxDelay: 6,
  codePoints: false,
  backward: false,
  forget: 0,
  maxLog: DEFAULT_LIMITS.maxLog,
};

const envSeed = process.env["SIM_SEED"];
const SCENARIOS: { name: string; first: number; count: number; plan: Plan }[] = [
  { name: "two people typing clusters at one spot", first: 1000, count: 40, plan: BASE },
  { name: "three people", first: 2000, count: 20, plan: { ...BASE, clients: 3 } },
  { name: "clusters typed one code point at a time", first: 3000, count: 30, plan: { ...BASE, codePoints: true } },
  { name: "runs typed backwards", first: 4000, count: 30, plan: { ...BASE, backward: true } },
  { name: "long runs", first: 8000, count: 5, plan: { ...BASE, keystrokes: 80 } },
];

const DIFF_PATHS: { name: string; first: number; count: number; plan: Plan }[] = [
  { name: "forgotten views resync", first: 6000, count: 30, plan: { ...BASE, forget: 3 } },
  { name: "the diff path", first: 7000, count: 30, plan: { ...BASE, maxLog: 0 } },
];

describe("same-place typing", () => {
  for (const scenario of DIFF_PATHS) {
    test(`${scenario.name}: nothing lost, doubled or cut (seeds ${scenario.first}..)`, () => {
      const seeds =
        envSeed !== undefined ? [Number(envSeed)] : Array.from({ length: scenario.count }, (_, i) => scenario.first + i);
      let whole = 0;
      for (const seed of seeds) {
        const { text, runs } = run(seed, scenario.plan);
        if (checkClusters(seed, scenario.plan, text, runs)) whole += 1;
      }
      console.log(`${scenario.name}: ${whole} of ${seeds.length} trials kept every run whole`);
    });
  }
  for (const scenario of SCENARIOS) {
    test(`${scenario.name}: runs stay whole, clusters uncut (seeds ${scenario.first}..)`, () => {
      const seeds =
        envSeed !== undefined ? [Number(envSeed)] : Array.from({ length: scenario.count }, (_, i) => scenario.first + i);
      for (const seed of seeds) {
        const { text, runs } = run(seed, scenario.plan);
        check(seed, scenario.plan, text, runs);
      }
    });
  }
});
