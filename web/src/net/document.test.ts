/**
 * A document session against a fake hub whose document is the real server engine: opening, editing, reconnecting,
 * reloading the page with edits in flight, presence and history.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { applyToString, ServerDocument, type Delta } from "../sync";
import type { PeerPresence } from "../protocol/local-hub";
import { Connection } from "./connection";
import { DocumentSession, type DocumentEvents, type SyncState } from "./document";
import { FakeHub, type FakeSocket } from "./fake-hub";
import { parseBody, utf8, type Frame } from "./frame";
import * as kind from "./kinds";
import { SavedDocuments, type KeyValueStore } from "./saved-documents";

class MapStore implements KeyValueStore {
  readonly map = new Map<string, string>();
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.map.set(key, value);
  }
  removeItem(key: string): void {
    this.map.delete(key);
  }
}

/** The project's side: one document, answering OPEN, SYNC and HISTORY like the local hub would. */
class FakeProject {
  readonly server: ServerDocument;
  /** Which socket and channel each sync client id is on. */
  readonly views = new Map<number, { socket: FakeSocket; channel: number }>();
  /** When set, SYNC messages are swallowed (the reply "gets lost"). */
  swallow = false;
  /** When set, OPENED says the file is not on disk. */
  missing = false;
  readonly received: number[] = [];

  constructor(hub: FakeHub, text: string) {
    this.server = new ServerDocument(text);
    // Answers arrive later, as over a real socket, never inside the page's own `send`.
    hub.onSend = (socket, frame) => queueMicrotask(() => this.handle(socket, frame));
  }

  private handle(socket: FakeSocket, frame: Frame): void {
    if (frame.channel === kind.CONTROL && frame.kind === kind.OPEN) {
      const open = parseBody<{ channel: number; client: number; service: string }>(frame.body);
      this.views.set(open.client, { socket, channel: open.channel });
      socket.deliverJson(kind.CONTROL, kind.OPENED, { channel: open.channel, read_only: false, missing: this.missing });
      return;
    }
    const client = [...this.views].find(([, view]) => view.socket === socket && view.channel === frame.channel)?.[0];
    if (client === undefined) return;
    if (frame.kind === kind.SYNC) {
      this.received.push(client);
      const outgoing = this.server.receive(client, frame.body, 0);
      if (this.swallow) return;
      for (const out of outgoing) {
        const view = this.views.get(out.to);
        view?.socket.deliver(view.channel, kind.SYNC_REPLY, out.bytes);
      }
    } else if (frame.kind === kind.HISTORY) {
      socket.deliverJson(frame.channel, kind.HISTORY_REPLY, { op: "list", versions: [{ version: 1, time_ms: 5, author: "Ada" }] });
    }
  }
}

class EditorDouble implements DocumentEvents {
  text: string | undefined;
  states: SyncState[] = [];
  peers: PeerPresence[] = [];
  notices: string[] = [];
  ready(text: string): void {
    this.text = text;
  }
  remoteChange(delta: Delta): void {
    this.text = applyToString(delta, this.text!);
  }
  state(state: SyncState): void {
    this.states.push(state);
  }
  presences(peers: PeerPresence[]): void {
    this.peers = peers;
  }
  readOnly(): void {}
  notice(message: string): void {
    this.notices.push(message);
  }
  failed(): void {}
  missingCalls = 0;
  missing(): void {
    this.missingCalls++;
  }
}

function setup(text = "hello") {
  const hub = new FakeHub();
  const project = new FakeProject(hub, text);
  const connection = new Connection({ url: "ws://test/ws", socketFactory: hub.factory, random: () => 1 });
  connection.start();
  hub.latest.welcome();
  const store = new MapStore();
  const saved = new SavedDocuments(store, "acct-1");
  return { hub, project, connection, store, saved };
}

async function openDoc(env: ReturnType<typeof setup>, path = "a.txt") {
  const editor = new EditorDouble();
  const session = await DocumentSession.open({ connection: env.connection, saved: env.saved, project: "p1", path, events: editor });
  await settle();
  return { editor, session };
}

/** Types at a code point position, as the editor would report it. */
function type(session: DocumentSession, editor: EditorDouble, pos: number, text: string): void {
  const length = [...session.text].length;
  const delta: Delta = [
    ...(pos > 0 ? [{ kind: "retain" as const, n: pos }] : []),
    { kind: "insert" as const, text, n: [...text].length },
    ...(length - pos > 0 ? [{ kind: "retain" as const, n: length - pos }] : []),
  ];
  editor.text = applyToString(delta, editor.text!);
  session.edit(delta);
}

/** Lets every queued answer (and the answers to those) arrive. */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 50; turn++) await Promise.resolve();
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("DocumentSession", () => {
  it("shows the server's text once synced, and reports saved after an edit is acknowledged", async () => {
    const env = setup("hello");
    const { editor, session } = await openDoc(env);
    expect(editor.text).toBe("hello");
    expect(session.state).toBe("saved");
    type(session, editor, 5, " world");
    await settle();
    expect(env.project.server.text).toBe("hello world");
    expect(session.state).toBe("saved");
    expect(editor.states).toContain("syncing");
  });

  it("applies others' edits to the editor", async () => {
    const env = setup("ab");
    const first = await openDoc(env);
    const second = await openDoc(env);
    type(first.session, first.editor, 1, "X");
    await settle();
    // The second editor was nudged and synced on its own.
    expect(second.editor.text).toBe("aXb");
    expect(second.session.text).toBe("aXb");
  });

  it("keeps edits made while disconnected and sends them after reconnecting with the same client id", async () => {
    const env = setup("abc");
    const { editor, session } = await openDoc(env);
    const opens = env.hub.latest.opens();
    env.hub.latest.drop();
    expect(session.state).toBe("reconnecting");
    type(session, editor, 3, "!");
    await settle();
    expect(session.state).toBe("reconnecting");
    vi.advanceTimersByTime(500);
    env.hub.latest.welcome();
    await settle();
    expect(env.hub.latest.opens()[0]!.client).toBe(opens[0]!.client);
    expect(env.project.server.text).toBe("abc!");
    expect(session.state).toBe("saved");
  });

  it("retransmits the message in flight after a reconnect, and the server does not apply it twice", async () => {
    const env = setup("abc");
    const { editor, session } = await openDoc(env);
    env.project.swallow = true;
    type(session, editor, 0, "<1>");
    await settle();
    expect(env.project.server.text).toBe("<1>abc"); // applied, but the reply never came
    env.hub.latest.drop();
    env.project.swallow = false;
    vi.advanceTimersByTime(500);
    env.hub.latest.welcome();
    await settle();
    expect(env.project.server.text).toBe("<1>abc");
    expect(session.state).toBe("saved");
  });

  it("resumes after a page reload with an edit in flight: same client id, the edit lands once", async () => {
    const env = setup("abc");
    const { editor, session } = await openDoc(env);
    env.project.swallow = true;
    type(session, editor, 3, "<sent>");
    await settle();
    const clientId = session.clientId;
    // The page goes away: the socket dies with it, and pagehide saves (closing the session stands in for both).
    env.hub.latest.drop();
    session.close();
    env.project.swallow = false;

    // A new page: a new connection, the same browser storage.
    const connection = new Connection({ url: "ws://test/ws", socketFactory: env.hub.factory, random: () => 1 });
    connection.start();
    const reloaded = await openDoc({ ...env, connection });
    expect(reloaded.editor.text).toBe("abc<sent>"); // shown before the server is even reached
    env.hub.latest.welcome();
    await settle();
    expect(env.hub.latest.opens()[0]!.client).toBe(clientId);
    expect(env.project.server.text).toBe("abc<sent>");
    expect(reloaded.editor.text).toBe("abc<sent>");
    type(reloaded.session, reloaded.editor, 0, "<after>");
    await settle();
    expect(env.project.server.text).toBe("<after>abc<sent>");
  });

  it("resumes after a reload with edits that never left the page", async () => {
    const env = setup("abc");
    const { editor, session } = await openDoc(env);
    env.hub.latest.drop();
    type(session, editor, 0, "<offline>");
    await settle();
    session.close();
    const connection = new Connection({ url: "ws://test/ws", socketFactory: env.hub.factory, random: () => 1 });
    connection.start();
    const reloaded = await openDoc({ ...env, connection });
    expect(reloaded.editor.text).toBe("<offline>abc");
    env.hub.latest.welcome();
    await settle();
    expect(env.project.server.text).toBe("<offline>abc");
  });

  it("sends its cursor and leaves itself out of the presences it is shown", async () => {
    const env = setup("hello");
    const { editor, session } = await openDoc(env);
    session.setPresence(2, 4);
    vi.advanceTimersByTime(50);
    await settle();
    const socket = env.hub.latest;
    const channel = env.project.views.get(session.clientId)!.channel;
    const sent = socket.on(channel).filter((frame) => frame.kind === kind.PRESENCE);
    expect(parseBody(sent.at(-1)!.body)).toEqual({ cursor: 2, anchor: 4 });
    socket.deliverJson(channel, kind.PRESENCES, {
      peers: [
        { connection: 10, name: "Ada", color: "#111", cursor: 2, anchor: 4 },
        { connection: 11, name: "Grace", color: "#222", cursor: 0, anchor: 0 },
      ],
    });
    expect(editor.peers.map((peer) => peer.name)).toEqual(["Grace"]);
    // Once recognised by its connection, its own entry stays out even when the positions change.
    socket.deliverJson(channel, kind.PRESENCES, {
      peers: [
        { connection: 10, name: "Ada", color: "#111", cursor: 3, anchor: 3 },
        { connection: 12, name: "Ada", color: "#111", cursor: 1, anchor: 1 },
      ],
    });
    expect(editor.peers.map((peer) => peer.connection)).toEqual([12]);
  });

  it("answers history requests", async () => {
    const env = setup("hello");
    const { session } = await openDoc(env);
    const response = await session.history({ op: "list" });
    expect(response).toEqual({ op: "list", versions: [{ version: 1, time_ms: 5, author: "Ada" }] });
  });

  it("fails a history request when the connection drops", async () => {
    const env = setup("hello");
    const { session } = await openDoc(env);
    env.project.views.clear(); // nobody answers
    const pending = session.history({ op: "list" });
    env.hub.latest.drop();
    await expect(pending).rejects.toThrow(/connection/);
  });

  it("shows a notice the server sends", async () => {
    const env = setup("hello");
    const { editor, session } = await openDoc(env);
    const channel = env.project.views.get(session.clientId)!.channel;
    env.hub.latest.deliver(channel, kind.NOTICE, utf8(JSON.stringify({ message: "an edit was not applied", dropped: "xyz" })));
    expect(editor.notices).toEqual(["an edit was not applied"]);
  });

  it("gives two editors of one document in one browser different client ids", async () => {
    const env = setup("hello");
    const first = await openDoc(env);
    const second = await openDoc(env);
    // Without Web Locks (as here) both use slot 0, but they still must not share an id in memory.
    expect(first.session.clientId).not.toBe(0);
    expect(second.session.text).toBe("hello");
  });

  it("says a file is missing when the server says it is not on disk", async () => {
    const env = setup("");
    env.project.missing = true;
    const { editor, session } = await openDoc(env);
    expect(editor.missingCalls).toBe(1);
    session.close();
  });

  it("does not say missing while edits made here wait to be saved: they make the file again", async () => {
    const env = setup("abc");
    const { editor, session } = await openDoc(env, "deleted.txt");
    env.hub.latest.drop();
    type(session, editor, 0, "kept");
    await settle();
    session.close();
    // Meanwhile the file was deleted.
    env.project.missing = true;
    const connection = new Connection({ url: "ws://test/ws", socketFactory: env.hub.factory, random: () => 1 });
    connection.start();
    const reloaded = await openDoc({ ...env, connection }, "deleted.txt");
    env.hub.latest.welcome();
    await settle();
    expect(reloaded.editor.missingCalls).toBe(0);
    expect(env.project.server.text).toBe("keptabc");
  });
});
