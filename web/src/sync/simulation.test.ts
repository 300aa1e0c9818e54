/**
 * Seeded simulations of several clients and one server over a network that loses and duplicates messages
 * (in order per direction, as a WebSocket delivers them), with reconnects and a server that forgets views.
 * At quiescence every client's text must equal the server's, no token typed once may appear twice, and the server's
 * history must replay to its text. Each scenario prints its seed; rerun one with SIM_SEED=<seed>.
 */
import { describe, expect, test } from "vitest";

import { SyncClient, type ClientEvent } from "./client";
import { applyToString } from "./delta";
import { ServerDocument, type HistoryEntry } from "./server";
import { Rng } from "./test-util";
import { decodeClient, DEFAULT_LIMITS, encodeMessage } from "./wire";

interface Scenario {
  name: string;
  seed: number;
  clients: number;
  steps: number;
  loss: number;
  duplication: number;
  /** Chance per step that a client's connection drops (queues lost, in-flight forgotten). */
  reconnect: number;
  /** Chance per step that the server forgets a view. */
  forget: number;
  initial: string;
  /** A short revision log forces the diff path for concurrent edits. */
  maxLog?: number;
}

interface SimClient {
  id: number;
  client: SyncClient;
  sentAt: number;
  toServer: Uint8Array[];
  toClient: Uint8Array[];
  events: ClientEvent[];
  nextToken: number;
}

const isToken = (char: string) => char.codePointAt(0)! >= 0xf0000;
const FILLER = ["a", "b", " ", "\n", "\r\n", "é", "🍊", "🌊", "中", "👨‍👩‍👧"];
const TIMEOUT = 12;

function run(scenario: Scenario) {
  const rng = new Rng(scenario.seed);
  const server = new ServerDocument(scenario.initial, {
    limits: { ...DEFAULT_LIMITS, maxLog: scenario.maxLog ?? DEFAULT_LIMITS.maxLog },
  });
  const history: HistoryEntry[] = [];
  /** Resyncs other than a client's first contact, by reason. */
  const resyncs = new Map<string, number>();
  const tokens: string[] = [];
  let now = 0;
  const clients: SimClient[] = Array.from({ length: scenario.clients }, (_, index) => ({
    id: index + 1,
    client: new SyncClient(),
    sentAt: 0,
    toServer: [],
    toClient: [],
    events: [],
    nextToken: 0,
  }));
  const byId = new Map(clients.map((sim) => [sim.id, sim]));

  /** Puts a message on a wire that may lose or duplicate it. */
  const transmit = (queue: Uint8Array[], bytes: Uint8Array, lossy: boolean) => {
    if (lossy && rng.chance(scenario.loss)) return;
    queue.push(bytes);
    if (lossy && rng.chance(scenario.duplication)) queue.push(bytes);
  };

  const send = (sim: SimClient, lossy: boolean) => {
    const bytes = sim.client.poll();
    if (bytes === undefined) return;
    sim.sentAt = now;
    transmit(sim.toServer, bytes, lossy);
  };

  const deliverToServer = (sim: SimClient, lossy: boolean) => {
    const bytes = sim.toServer.shift();
    if (bytes === undefined) return;
    const message = decodeClient(bytes);
    const outcome = server.receiveMessage(sim.id, message, now);
    history.push(...outcome.history);
    if (outcome.resync !== undefined && !(outcome.resync === "Requested" && message.seq === 1)) {
      resyncs.set(outcome.resync, (resyncs.get(outcome.resync) ?? 0) + 1);
    }
    if (outcome.reply !== undefined) {
      transmit(sim.toClient, encodeMessage(outcome.reply), lossy);
      for (const id of outcome.nudge) transmit(byId.get(id)!.toClient, encodeMessage({ type: "Nudge" }), lossy);
    }
  };

  const deliverToClient = (sim: SimClient) => {
    const bytes = sim.toClient.shift();
    if (bytes !== undefined) sim.events.push(...sim.client.receive(bytes));
  };

  const edit = (sim: SimClient) => {
    const length = sim.client.length;
    if (length > 0 && rng.chance(0.3)) {
      // Delete a few filler characters, never a token, so every token must survive to the end.
      const chars = Array.from(sim.client.text);
      const pos = rng.int(length);
      let del = 0;
      while (del < 1 + rng.int(6) && pos + del < length && !isToken(chars[pos + del]!)) del++;
      sim.client.splice(pos, del, "");
    } else {
      // A token is one astral code point (Supplementary Private Use Area-A), unique in the whole run:
      // a delete can remove it but never cut it in half, so two copies can only come from an edit applied twice.
      const token = String.fromCodePoint(0xf0000 + tokens.length);
      sim.nextToken += 1;
      tokens.push(token);
      const filler = Array.from({ length: rng.int(4) }, () => rng.pick(FILLER)).join("");
      sim.client.splice(rng.int(length + 1), 0, rng.chance(0.5) ? token + filler : filler + token);
    }
  };

  for (let step = 0; step < scenario.steps; step++) {
    now += 1;
    const sim = rng.pick(clients);
    const action = rng.int(10);
    if (action < 3) edit(sim);
    else if (action < 5) send(sim, true);
    else if (action < 7) deliverToServer(sim, true);
    else if (action < 9) deliverToClient(sim);
    else if (sim.client.isInFlight && now - sim.sentAt > TIMEOUT && sim.toServer.length === 0) {
      sim.sentAt = now;
      transmit(sim.toServer, sim.client.retransmit()!, true);
    }
    if (rng.chance(scenario.reconnect)) {
      const dropped = rng.pick(clients);
      dropped.toServer.length = 0;
      dropped.toClient.length = 0;
      dropped.client.resetInFlight();
      dropped.client.requestSync(); // a client polls when its connection comes back
    }
    if (rng.chance(scenario.forget)) server.forgetView(rng.pick(clients).id);
  }

  // Quiescence: a reliable network, every client polls until nothing changes.
  for (let round = 0; round < 50; round++) {
    for (const sim of clients) {
      while (sim.toServer.length > 0 || sim.toClient.length > 0) {
        deliverToServer(sim, false);
        deliverToClient(sim);
      }
      if (sim.client.isInFlight) transmit(sim.toServer, sim.client.retransmit()!, false);
      else {
        sim.client.requestSync();
        send(sim, false);
      }
      while (sim.toServer.length > 0 || sim.toClient.length > 0) {
        deliverToServer(sim, false);
        for (const other of clients) while (other.toClient.length > 0) deliverToClient(other);
      }
    }
    const done = clients.every(
      (sim) => !sim.client.isInFlight && !sim.client.hasUnacknowledged && sim.client.text === server.text,
    );
    if (done && round > 1) break;
  }
  return { server, clients, history, tokens, resyncs };
}

const envSeed = process.env["SIM_SEED"];
const SCENARIOS: Scenario[] = [
  { name: "two clients, no faults", seed: 1, clients: 2, steps: 1500, loss: 0, duplication: 0, reconnect: 0, forget: 0, initial: "" },
  { name: "three clients, 10% loss", seed: 2, clients: 3, steps: 2000, loss: 0.1, duplication: 0, reconnect: 0, forget: 0, initial: "start\r\n" },
  { name: "three clients, 10% duplication", seed: 3, clients: 3, steps: 2000, loss: 0, duplication: 0.1, reconnect: 0, forget: 0, initial: "🍊" },
  { name: "four clients, 20% loss and 20% duplication", seed: 4, clients: 4, steps: 3000, loss: 0.2, duplication: 0.2, reconnect: 0, forget: 0, initial: "x" },
  { name: "reconnects and forgotten views", seed: 5, clients: 3, steps: 3000, loss: 0.1, duplication: 0.1, reconnect: 0.01, forget: 0.005, initial: "shared document\n" },
  { name: "one busy client, heavy loss", seed: 6, clients: 1, steps: 2000, loss: 0.3, duplication: 0.1, reconnect: 0.005, forget: 0, initial: "" },
  { name: "short revision log: concurrent edits found by diff", seed: 7, clients: 3, steps: 2500, loss: 0.1, duplication: 0.1, reconnect: 0, forget: 0, initial: "a\r\nb", maxLog: 2 },
];
if (envSeed !== undefined) {
  SCENARIOS.push({ name: "replay", seed: Number(envSeed), clients: 3, steps: 3000, loss: 0.2, duplication: 0.2, reconnect: 0.01, forget: 0.005, initial: "" });
}

describe("simulation", () => {
  for (const scenario of SCENARIOS) {
    test(`${scenario.name} (seed=${scenario.seed})`, () => {
      const { server, clients, history, tokens, resyncs } = run(scenario);
      checkConverged(scenario, server, clients, history, tokens);
      if (scenario.maxLog !== undefined) expect(server.stats.diffed).toBeGreaterThan(0);
      // Without duplicates, reconnects or forgotten views nothing ever needs a resync after first contact. (A
      // duplicated ResyncRequest still costs one: the server answers it with a fresh Resync, as the Rust engine does.)
      if (scenario.duplication === 0 && scenario.forget === 0 && scenario.reconnect === 0) {
        expect(Object.fromEntries(resyncs)).toEqual({});
      }
    });
  }
});

function checkConverged(
  scenario: Scenario,
  server: ServerDocument,
  clients: SimClient[],
  history: HistoryEntry[],
  tokens: string[],
): void {
  const initial = scenario.initial;
  for (const sim of clients) {
    expect(sim.client.text).toBe(server.text);
    expect(sim.client.shadow).toBe(server.text);
    expect(sim.client.hasUnacknowledged).toBe(false);
  }
  // Every token typed is in the text exactly once: nothing typed was lost, nothing was applied twice.
  const counts = new Map<string, number>();
  for (const char of server.text) if (isToken(char)) counts.set(char, (counts.get(char) ?? 0) + 1);
  expect(counts.size).toBe(tokens.length);
  for (const token of tokens) expect(counts.get(token)).toBe(1);
  // The history replays to the master text.
  let replayed = initial;
  for (const entry of history) replayed = applyToString(entry.delta, replayed);
  expect(replayed).toBe(server.text);
  // Something happened.
  expect(history.length).toBeGreaterThan(10);
  expect(server.text.length).toBeGreaterThan(0);
}
