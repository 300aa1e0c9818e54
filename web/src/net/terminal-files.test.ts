import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Connection } from "./connection";
import { FakeHub } from "./fake-hub";
import { FileError, FilesSession } from "./files";
import { jsonBody, parseBody, readVarint, utf8, withVarintPrefix } from "./frame";
import * as kind from "./kinds";
import { TerminalSession, type TerminalEvents } from "./terminal";

function connect() {
  const hub = new FakeHub();
  const connection = new Connection({ url: "ws://test/ws", socketFactory: hub.factory, random: () => 1 });
  connection.start();
  hub.latest.welcome();
  return { hub, connection };
}

function terminalEvents() {
  const log: string[] = [];
  const dones: (() => void)[] = [];
  const events: TerminalEvents = {
    output: (data, done) => {
      log.push(`output ${new TextDecoder().decode(data)}`);
      dones.push(done);
    },
    snapshot: (data, done) => {
      log.push(`snapshot ${new TextDecoder().decode(data)}`);
      dones.push(done);
    },
    size: (size) => log.push(`size ${size.cols}x${size.rows}`),
    exited: (code) => log.push(`exited ${code}`),
    state: (state) => log.push(`state ${state}`),
    failed: () => log.push("failed"),
  };
  return { events, log, dones };
}

function acks(hub: FakeHub, channel: number): number[] {
  return hub.latest
    .on(channel)
    .filter((frame) => frame.kind === kind.ACK)
    .map((frame) => readVarint(frame.body)!.value);
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("TerminalSession", () => {
  it("acknowledges output and snapshot bytes once the screen took them", () => {
    const { hub, connection } = connect();
    const { events, log, dones } = terminalEvents();
    new TerminalSession(connection, "p1", "terminal-1", { rows: 24, cols: 80 }, events);
    expect(hub.latest.opens()[0]).toMatchObject({ service: "terminal", name: "terminal-1", size: { rows: 24, cols: 80 } });
    const channel = hub.latest.openLatest();
    hub.latest.deliver(channel, kind.SNAPSHOT, utf8("$ "));
    hub.latest.deliver(channel, kind.OUTPUT, utf8("ls\r\n"));
    expect(log).toContain("snapshot $ ");
    expect(log).toContain("output ls\r\n");
    vi.advanceTimersByTime(100);
    expect(acks(hub, channel)).toEqual([]); // not consumed yet
    for (const done of dones) done();
    dones[0]!(); // twice counts once
    vi.advanceTimersByTime(100);
    expect(acks(hub, channel)).toEqual([6]);
  });

  it("acknowledges at once when a large batch was consumed", () => {
    const { hub, connection } = connect();
    const { events, dones } = terminalEvents();
    new TerminalSession(connection, "p1", "t", { rows: 24, cols: 80 }, events);
    const channel = hub.latest.openLatest();
    hub.latest.deliver(channel, kind.OUTPUT, new Uint8Array(40_000));
    dones[0]!();
    expect(acks(hub, channel)).toEqual([40_000]);
  });

  it("sends keystrokes and sizes, and reopens with the current size after a reconnect", () => {
    const { hub, connection } = connect();
    const { events, log, dones } = terminalEvents();
    const terminal = new TerminalSession(connection, "p1", "t", { rows: 24, cols: 80 }, events);
    let channel = hub.latest.openLatest();
    terminal.input("é");
    terminal.resize({ rows: 40, cols: 120 });
    const sent = hub.latest.on(channel);
    expect(sent[0]!.kind).toBe(kind.INPUT);
    expect([...sent[0]!.body]).toEqual([0xc3, 0xa9]);
    expect(parseBody(sent[1]!.body)).toEqual({ rows: 40, cols: 120 });
    hub.latest.deliver(channel, kind.OUTPUT, utf8("old"));
    hub.latest.drop();
    expect(log.at(-1)).toBe("state reconnecting");
    vi.advanceTimersByTime(500);
    hub.latest.welcome();
    expect(hub.latest.opens()[0]).toMatchObject({ size: { rows: 40, cols: 120 } });
    channel = hub.latest.openLatest();
    dones[0]!(); // output of the old stream: its credit died with it
    vi.advanceTimersByTime(100);
    expect(acks(hub, channel)).toEqual([]);
  });

  it("closes its channel when the shell exits, and restarts on request", () => {
    const { hub, connection } = connect();
    const { events, log } = terminalEvents();
    const terminal = new TerminalSession(connection, "p1", "t", { rows: 24, cols: 80 }, events);
    const channel = hub.latest.openLatest();
    hub.latest.deliverJson(channel, kind.SIZE, { rows: 20, cols: 70 });
    hub.latest.deliverJson(channel, kind.EXITED, { code: 0 });
    expect(log).toContain("size 70x20");
    expect(log).toContain("exited 0");
    expect(terminal.state).toBe("exited");
    expect(hub.latest.controls().at(-1)).toEqual({ kind: kind.CLOSE, body: { channel } });
    terminal.restart();
    expect(hub.latest.opens()).toHaveLength(2);
  });
});

describe("FilesSession", () => {
  it("pairs responses with requests by id, in any order, and waits for the channel to open", async () => {
    const { hub, connection } = connect();
    const files = new FilesSession(connection, "p1");
    const listing = files.list("");
    const made = files.mkdir("src");
    const channel = hub.latest.openLatest();
    const requests = hub.latest.on(channel).map((frame) => parseBody<{ id: number; op: string }>(frame.body));
    expect(requests.map((request) => request.op)).toEqual(["list", "mkdir"]);
    hub.latest.deliverJson(channel, kind.FILE_RESPONSE, { id: requests[1]!.id, result: "done" });
    hub.latest.deliverJson(channel, kind.FILE_RESPONSE, {
      id: requests[0]!.id,
      result: "entries",
      entries: [{ name: "a.py", kind: "file", size: 3, modified_ms: 1 }],
    });
    await expect(made).resolves.toBeUndefined();
    await expect(listing).resolves.toEqual([{ name: "a.py", kind: "file", size: 3, modified_ms: 1 }]);
  });

  it("turns error responses into FileErrors", async () => {
    const { hub, connection } = connect();
    const files = new FilesSession(connection, "p1");
    const channel = hub.latest.openLatest();
    const renamed = files.rename("a", "b");
    const { id } = parseBody<{ id: number }>(hub.latest.on(channel).at(-1)!.body);
    hub.latest.deliverJson(channel, kind.FILE_RESPONSE, { id, result: "error", code: "already_exists", message: "b exists" });
    await expect(renamed).rejects.toMatchObject({ code: "already_exists", message: "b exists" });
  });

  it("fails requests in flight when the connection drops", async () => {
    const { hub, connection } = connect();
    const files = new FilesSession(connection, "p1");
    hub.latest.openLatest();
    const removed = files.remove("x");
    hub.latest.drop();
    await expect(removed).rejects.toBeInstanceOf(FileError);
    await expect(removed).rejects.toMatchObject({ code: "disconnected" });
  });

  it("streams an upload in chunks between its start and its end", async () => {
    const { hub, connection } = connect();
    const files = new FilesSession(connection, "p1");
    const channel = hub.latest.openLatest();
    const data = new Uint8Array(600 * 1024).map((_, index) => index % 251);
    const uploaded = files.upload("data.bin", new Blob([data]));
    await vi.waitFor(() => {
      const last = hub.latest.on(channel).at(-1)!;
      expect(last.kind === kind.FILE_REQUEST && parseBody<{ op: string }>(last.body).op === "upload_end").toBe(true);
    });
    const frames = hub.latest.on(channel);
    const start = parseBody<{ id: number; op: string; path: string }>(frames[0]!.body);
    expect(start).toEqual({ id: start.id, op: "upload", path: "data.bin" });
    const chunks = frames.filter((frame) => frame.kind === kind.FILE_DATA);
    expect(chunks.length).toBe(3);
    const received: number[] = [];
    for (const chunk of chunks) {
      const id = readVarint(chunk.body)!;
      expect(id.value).toBe(start.id);
      for (const byte of chunk.body.subarray(id.next)) received.push(byte);
    }
    expect(received.length).toBe(data.length);
    expect(received.every((byte, index) => byte === data[index])).toBe(true);
    hub.latest.deliverJson(channel, kind.FILE_RESPONSE, { id: start.id, result: "transferred", bytes: data.length });
    await expect(uploaded).resolves.toBe(data.length);
  });

  it("stops an upload the server refused at its start", async () => {
    const { hub, connection } = connect();
    const files = new FilesSession(connection, "p1");
    const channel = hub.latest.openLatest();
    hub.onSend = (socket, frame) => {
      if (frame.kind === kind.FILE_REQUEST) {
        const request = parseBody<{ id: number; op: string }>(frame.body);
        if (request.op === "upload") {
          socket.deliverJson(channel, kind.FILE_RESPONSE, { id: request.id, result: "error", code: "outside_project", message: "no" });
        }
      }
    };
    await expect(files.upload("../x", new Blob([new Uint8Array(10)]))).rejects.toMatchObject({ code: "outside_project" });
    expect(hub.latest.on(channel).filter((frame) => frame.kind === kind.FILE_DATA)).toHaveLength(0);
  });

  it("gathers a download's chunks", async () => {
    const { hub, connection } = connect();
    const files = new FilesSession(connection, "p1");
    const channel = hub.latest.openLatest();
    const downloaded = files.download("notes.txt");
    await vi.waitFor(() => expect(hub.latest.on(channel)).toHaveLength(1));
    const { id } = parseBody<{ id: number }>(hub.latest.on(channel)[0]!.body);
    hub.latest.deliver(channel, kind.FILE_DATA, withVarintPrefix(id, utf8("hello ")));
    hub.latest.deliver(channel, kind.FILE_DATA, withVarintPrefix(id, utf8("world")));
    hub.latest.deliver(channel, kind.FILE_RESPONSE, jsonBody({ id, result: "transferred", bytes: 11 }));
    const blob = await downloaded;
    expect(await blob.text()).toBe("hello world");
  });
});
