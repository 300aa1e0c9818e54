import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Connection, type ChannelEnd, type ChannelHandler, type ConnectionState } from "./connection";
import { FakeHub } from "./fake-hub";
import { decodeFrame, encodeFrame, utf8 } from "./frame";
import * as kind from "./kinds";

/** A handler that records everything it is told. */
function recorder() {
  const log: string[] = [];
  const frames: { kind: number; text: string }[] = [];
  const ended: ChannelEnd[] = [];
  const handler: ChannelHandler = {
    opened: (opened, resumed) => log.push(`opened ${opened.channel} resumed=${resumed}`),
    frame: (frameKind, body) => frames.push({ kind: frameKind, text: new TextDecoder().decode(body) }),
    error: (error) => log.push(`error ${error.code}`),
    interrupted: () => log.push("interrupted"),
    ended: (end) => ended.push(end),
  };
  return { handler, log, frames, ended };
}

function setup(options: { checkSignedIn?: () => Promise<boolean>; online?: () => boolean } = {}) {
  const hub = new FakeHub();
  const connection = new Connection({
    url: "ws://hub.test/ws",
    socketFactory: hub.factory,
    random: () => 1, // no jitter: delays are the nominal ones
    backoff: { initialMs: 500, maxMs: 8000 },
    checkSignedIn: options.checkSignedIn,
    isOnline: options.online,
  });
  const states: ConnectionState[] = [];
  connection.onState((state) => {
    if (states.at(-1) !== state) states.push(state);
  });
  connection.start();
  return { hub, connection, states };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("frames", () => {
  it("round-trip channel numbers of every varint length", () => {
    for (const channel of [0, 1, 127, 128, 300, 16_383, 16_384, 2 ** 28 - 1]) {
      const bytes = encodeFrame(channel, kind.INPUT, utf8("ls\r"));
      const frame = decodeFrame(bytes);
      expect(frame.channel).toBe(channel);
      expect(frame.kind).toBe(kind.INPUT);
      expect(new TextDecoder().decode(frame.body)).toBe("ls\r");
    }
  });

  it("reject a message with no kind or an unterminated channel", () => {
    expect(() => decodeFrame(new Uint8Array([]))).toThrow();
    expect(() => decodeFrame(new Uint8Array([0x01]))).toThrow();
    expect(() => decodeFrame(new Uint8Array([0x80]))).toThrow();
  });
});

describe("Connection", () => {
  it("is connected once the hub welcomes it, and opens channels with their service", () => {
    const { hub, connection, states } = setup();
    expect(connection.state).toBe("connecting");
    hub.latest.welcome();
    expect(connection.state).toBe("connected");
    expect(connection.welcome?.name).toBe("Ada");
    expect(states).toEqual(["connected"]);

    const doc = recorder();
    const channel = connection.open("p1", { service: "document", path: "a.py", client: 42 }, doc.handler);
    expect(hub.latest.opens()).toEqual([
      { channel: channel.number, project: "p1", service: "document", path: "a.py", client: 42 },
    ]);
    expect(channel.send(kind.SYNC, utf8("x"))).toBe(false); // not open yet: nothing goes out
    hub.latest.openLatest();
    expect(doc.log).toEqual([`opened ${channel.number} resumed=false`]);
    expect(channel.send(kind.SYNC, utf8("x"))).toBe(true);
    expect(hub.latest.on(channel.number).map((frame) => frame.kind)).toEqual([kind.SYNC]);
  });

  it("routes frames by channel and ignores channels it does not know", () => {
    const { hub, connection } = setup();
    hub.latest.welcome();
    const a = recorder();
    const b = recorder();
    const first = connection.open("p1", { service: "files" }, a.handler);
    hub.latest.openLatest();
    const second = connection.open("p1", { service: "terminal", name: "t", size: { rows: 24, cols: 80 } }, b.handler);
    hub.latest.openLatest();
    expect(first.number).not.toBe(second.number);
    hub.latest.deliver(second.number, kind.OUTPUT, utf8("hello"));
    hub.latest.deliver(first.number, kind.FILE_RESPONSE, utf8("{}"));
    hub.latest.deliver(999, kind.OUTPUT, utf8("lost"));
    expect(a.frames).toEqual([{ kind: kind.FILE_RESPONSE, text: "{}" }]);
    expect(b.frames).toEqual([{ kind: kind.OUTPUT, text: "hello" }]);
  });

  it("opens channels asked for before the socket is up once the hub welcomes it", () => {
    const { hub, connection } = setup();
    const doc = recorder();
    connection.open("p1", { service: "files" }, doc.handler);
    expect(hub.latest.opens()).toEqual([]);
    hub.latest.welcome();
    expect(hub.latest.opens()).toHaveLength(1);
  });

  it("reconnects with growing delays and reopens every channel on the new socket", () => {
    const { hub, connection, states } = setup();
    hub.latest.welcome();
    const doc = recorder();
    const term = recorder();
    connection.open("p1", { service: "document", path: "notes.md", client: 7 }, doc.handler);
    hub.latest.openLatest();
    connection.open("p1", { service: "terminal", name: "terminal-1", size: { rows: 30, cols: 100 } }, term.handler);
    hub.latest.openLatest();

    hub.latest.drop();
    expect(connection.state).toBe("reconnecting");
    expect(doc.log.at(-1)).toBe("interrupted");
    expect(term.log.at(-1)).toBe("interrupted");

    // The first retry comes after the initial delay; failures before the socket opens back off further.
    expect(hub.sockets).toHaveLength(1);
    vi.advanceTimersByTime(499);
    expect(hub.sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(hub.sockets).toHaveLength(2);
    hub.latest.drop();
    vi.advanceTimersByTime(999);
    expect(hub.sockets).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(hub.sockets).toHaveLength(3);
    hub.latest.drop();
    vi.advanceTimersByTime(2000);
    expect(hub.sockets).toHaveLength(4);

    hub.latest.welcome();
    expect(connection.state).toBe("connected");
    const reopened = hub.latest.opens().map(({ channel: _channel, ...rest }) => rest);
    expect(reopened).toEqual([
      { project: "p1", service: "document", path: "notes.md", client: 7 },
      { project: "p1", service: "terminal", name: "terminal-1", size: { rows: 30, cols: 100 } },
    ]);
    hub.latest.openLatest();
    expect(term.log.at(-1)).toMatch(/resumed=true$/);
    expect(states).toEqual(["connected", "reconnecting", "connected"]);
  });

  it("caps the delay between attempts", () => {
    const { hub } = setup();
    for (let attempt = 0; attempt < 10; attempt++) {
      hub.latest.drop();
      vi.advanceTimersByTime(8000);
    }
    expect(hub.sockets).toHaveLength(11);
  });

  it("stops and ends every channel when the hub says the sign-in is gone (4401)", () => {
    const { hub, connection } = setup();
    hub.latest.welcome();
    const doc = recorder();
    connection.open("p1", { service: "files" }, doc.handler);
    hub.latest.openLatest();
    hub.latest.drop(4401, "not signed in");
    expect(connection.state).toBe("signed-out");
    expect(doc.ended).toEqual([{ by: "signed-out" }]);
    vi.advanceTimersByTime(60_000);
    expect(hub.sockets).toHaveLength(1);
  });

  it("asks whether the sign-in is still good when a socket fails before it opens", async () => {
    let signedIn = true;
    const { hub, connection } = setup({ checkSignedIn: async () => signedIn });
    hub.latest.drop();
    await vi.advanceTimersByTimeAsync(0);
    expect(connection.state).toBe("reconnecting");
    vi.advanceTimersByTime(500);
    signedIn = false;
    hub.latest.drop();
    await vi.advanceTimersByTimeAsync(0);
    expect(connection.state).toBe("signed-out");
  });

  it("ends a channel the hub refuses, and retries one whose project is unavailable", () => {
    const { hub, connection } = setup();
    hub.latest.welcome();
    const refused = recorder();
    const channel = connection.open("nope", { service: "files" }, refused.handler);
    hub.latest.deliverJson(channel.number, kind.ERROR, { code: "no_project", message: "no such project" });
    hub.latest.deliverJson(kind.CONTROL, kind.CLOSE, { channel: channel.number });
    expect(refused.ended).toEqual([{ by: "refused", code: "no_project", message: "no such project" }]);
    expect(channel.state).toBe("closed");

    const later = recorder();
    const retried = connection.open("p1", { service: "files" }, later.handler);
    const first = retried.number;
    hub.latest.deliverJson(first, kind.ERROR, { code: "unavailable", message: "the project could not start" });
    hub.latest.deliverJson(kind.CONTROL, kind.CLOSE, { channel: first });
    expect(later.ended).toEqual([]);
    expect(retried.state).toBe("waiting");
    const opensBefore = hub.latest.opens().length;
    vi.advanceTimersByTime(1000);
    expect(hub.latest.opens()).toHaveLength(opensBefore + 1);
    expect(retried.number).not.toBe(first);
    hub.latest.openLatest();
    expect(retried.state).toBe("open");
  });

  it("reopens a channel the hub closed after it was open (its local hub restarted)", () => {
    const { hub, connection } = setup();
    hub.latest.welcome();
    const doc = recorder();
    const channel = connection.open("p1", { service: "document", path: "a.txt", client: 1 }, doc.handler);
    hub.latest.openLatest();
    hub.latest.deliverJson(kind.CONTROL, kind.CLOSE, { channel: channel.number, reason: "the project's server stopped" });
    expect(doc.log.at(-1)).toBe("interrupted");
    vi.advanceTimersByTime(1000);
    expect(hub.latest.opens()).toHaveLength(2);
    hub.latest.openLatest();
    expect(doc.log.at(-1)).toMatch(/resumed=true$/);
  });

  it("passes errors on an open channel to its handler and keeps it open", () => {
    const { hub, connection } = setup();
    hub.latest.welcome();
    const doc = recorder();
    const channel = connection.open("p1", { service: "document", path: "a.txt", client: 1 }, doc.handler);
    hub.latest.openLatest();
    hub.latest.deliverJson(channel.number, kind.ERROR, { code: "sync", message: "bad message" });
    expect(doc.log.at(-1)).toBe("error sync");
    expect(channel.isOpen).toBe(true);
  });

  it("sends CLOSE when a channel is closed, and never reuses its number on the socket", () => {
    const { hub, connection } = setup();
    hub.latest.welcome();
    const first = connection.open("p1", { service: "files" }, recorder().handler);
    hub.latest.openLatest();
    const number = first.number;
    first.close();
    expect(hub.latest.controls().at(-1)).toEqual({ kind: kind.CLOSE, body: { channel: number } });
    const second = connection.open("p1", { service: "files" }, recorder().handler);
    expect(second.number).not.toBe(number);
    hub.latest.drop();
    vi.advanceTimersByTime(500);
    hub.latest.welcome();
    expect(hub.latest.opens()).toHaveLength(1); // only the channel still open
  });

  it("pings every heartbeat and gives up on a socket silent for three", () => {
    const { hub, connection } = setup();
    hub.latest.welcome({ heartbeat_ms: 1000 });
    const socket = hub.latest;
    vi.advanceTimersByTime(1000);
    expect(socket.controls().filter((frame) => frame.kind === kind.PING)).toHaveLength(1);
    socket.deliver(kind.CONTROL, kind.PONG);
    vi.advanceTimersByTime(3000);
    expect(connection.state).toBe("connected");
    vi.advanceTimersByTime(1000);
    expect(connection.state).toBe("reconnecting");
    expect(socket.closed).toBeDefined();
  });

  it("checks the socket at once when the browser goes offline, and shows offline while it cannot reconnect", () => {
    let online = true;
    const { hub, connection } = setup({ online: () => online });
    hub.latest.welcome();
    online = false;
    connection.networkChanged(false);
    expect(hub.latest.controls().at(-1)?.kind).toBe(kind.PING);
    vi.advanceTimersByTime(3000);
    expect(connection.state).toBe("offline");
    online = true;
    connection.networkChanged(true);
    expect(hub.sockets).toHaveLength(2); // at once, not after the backoff
    hub.latest.welcome();
    expect(connection.state).toBe("connected");
  });

  it("keeps a socket that answers the offline check", () => {
    const { hub, connection } = setup();
    hub.latest.welcome();
    connection.networkChanged(false);
    hub.latest.deliver(kind.CONTROL, kind.PONG);
    vi.advanceTimersByTime(5000);
    expect(connection.state).toBe("connected");
    expect(hub.sockets).toHaveLength(1);
  });

  it("gives up on a socket that never says welcome", () => {
    const { hub, connection } = setup();
    hub.latest.accept();
    vi.advanceTimersByTime(10_000);
    expect(connection.state).toBe("reconnecting");
    expect(hub.latest.closed).toBeUndefined(); // the stale socket is abandoned; its late events are ignored
    vi.advanceTimersByTime(500);
    expect(hub.sockets).toHaveLength(2);
  });

  it("refuses a hub that speaks another protocol version", () => {
    const { hub, connection } = setup();
    const problems: string[] = [];
    connection.onProblem((problem) => problems.push(problem));
    hub.latest.welcome({ version: 2 });
    expect(connection.state).not.toBe("connected");
    expect(problems[0]).toMatch(/version 2/);
  });

  it("ends everything on close and opens no socket after", () => {
    const { hub, connection } = setup();
    hub.latest.welcome();
    const doc = recorder();
    connection.open("p1", { service: "files" }, doc.handler);
    connection.close();
    expect(connection.state).toBe("closed");
    expect(doc.ended).toEqual([{ by: "connection-closed" }]);
    expect(hub.latest.closed?.code).toBe(1000);
    vi.advanceTimersByTime(60_000);
    expect(hub.sockets).toHaveLength(1);
  });
});
