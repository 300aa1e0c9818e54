/**
 * A scripted stand-in for the hub's `/ws`, for unit tests of the networking layer: it hands out fake sockets, records
 * the frames the page sends, and lets a test answer, fail or close each socket. The real hub is exercised by the
 * end-to-end tests; this only makes the connection logic testable without one.
 */

import type { Welcome } from "../protocol/hub";
import type { SocketEvents, SocketFactory, SocketLike } from "./connection";
import { decodeFrame, encodeFrame, jsonBody, parseBody, type Frame } from "./frame";
import * as kind from "./kinds";

export class FakeSocket implements SocketLike {
  readonly sent: Frame[] = [];
  closed: { code?: number; reason?: string } | undefined;
  bufferedAmount = 0;
  /** Called with every frame the page sends, after it is recorded: a test's stand-in for the server's logic. */
  onSend: ((frame: Frame) => void) | undefined;

  constructor(
    readonly url: string,
    private readonly events: SocketEvents,
  ) {}

  send(data: Uint8Array): void {
    if (this.closed !== undefined) throw new Error("send on a closed socket");
    const frame = decodeFrame(data);
    const copy = { ...frame, body: frame.body.slice() };
    this.sent.push(copy);
    this.onSend?.(copy);
  }

  close(code?: number, reason?: string): void {
    this.closed = { code, reason };
  }

  // ---- the hub's side

  accept(): void {
    this.events.open();
  }

  welcome(overrides: Partial<Welcome> = {}): void {
    this.accept();
    const welcome: Welcome = {
      version: 1,
      account: "acct-1",
      name: "Ada",
      email: "ada@example.org",
      color: "#d33682",
      heartbeat_ms: 15_000,
      ...overrides,
    };
    this.deliver(kind.CONTROL, kind.WELCOME, jsonBody(welcome));
  }

  deliver(channel: number, frameKind: number, body: Uint8Array = new Uint8Array(0)): void {
    this.events.message(encodeFrame(channel, frameKind, body));
  }

  deliverJson(channel: number, frameKind: number, value: unknown): void {
    this.deliver(channel, frameKind, jsonBody(value));
  }

  /** The hub ends the socket (or the network drops it: code 1006). */
  drop(code = 1006, reason = ""): void {
    this.events.close(code, reason);
  }

  /** Control messages the page sent, parsed, with their kind. */
  controls(): { kind: number; body: unknown }[] {
    return this.sent
      .filter((frame) => frame.channel === kind.CONTROL)
      .map((frame) => ({ kind: frame.kind, body: frame.body.length > 0 ? parseBody(frame.body) : undefined }));
  }

  /** The OPEN messages sent so far. */
  opens(): Record<string, unknown>[] {
    return this.controls()
      .filter((frame) => frame.kind === kind.OPEN)
      .map((frame) => frame.body as Record<string, unknown>);
  }

  /** Frames sent on a channel. */
  on(channel: number): Frame[] {
    return this.sent.filter((frame) => frame.channel === channel);
  }

  /** Answers the latest OPEN with OPENED and returns its channel number. */
  openLatest(readOnly = false): number {
    const open = this.opens().at(-1);
    if (open === undefined) throw new Error("no OPEN was sent");
    const channel = open.channel as number;
    this.deliverJson(kind.CONTROL, kind.OPENED, { channel, read_only: readOnly });
    return channel;
  }
}

export class FakeHub {
  readonly sockets: FakeSocket[] = [];
  /** Installed on every new socket. */
  onSend: ((socket: FakeSocket, frame: Frame) => void) | undefined;

  readonly factory: SocketFactory = (url, events) => {
    const socket = new FakeSocket(url, events);
    socket.onSend = (frame) => this.onSend?.(socket, frame);
    this.sockets.push(socket);
    return socket;
  };

  get latest(): FakeSocket {
    const socket = this.sockets.at(-1);
    if (socket === undefined) throw new Error("no socket was opened");
    return socket;
  }
}
