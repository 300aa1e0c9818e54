/**
 * One shared terminal over a terminal channel: keystrokes and sizes out, output and screen snapshots in, and the
 * credit the local hub needs: every OUTPUT and SNAPSHOT byte is acknowledged once the screen has taken it, or output
 * stops after the window (256 KiB). Rendering is the caller's (xterm.js); this knows bytes and sizes only.
 *
 * Every (re)open names the shell this viewer saw last (`resume`), so when that shell is gone (the project's server
 * restarted, the shell exited, someone ended it) the local hub's ATTACHED says so and why, and `attached` passes it on.
 */

import type { Attached, Exited, TerminalSize } from "../protocol/local-hub";
import type { Channel, ChannelEnd, Connection, ServiceSpec } from "./connection";
import { jsonBody, parseBody, utf8, varintBytes } from "./frame";
import * as kind from "./kinds";

export type TerminalState = "opening" | "open" | "reconnecting" | "exited" | "ended";

export interface TerminalEvents {
  /** Which shell this is; `restarted` is set when the shell seen before is gone and this is a new one. */
  attached?(attached: Attached): void;
  /** Live output: write it, then call `done` so its bytes are acknowledged. */
  output(data: Uint8Array, done: () => void): void;
  /** The screen as it is: reset the terminal, write it, then call `done`. */
  snapshot(data: Uint8Array, done: () => void): void;
  /** The shared PTY's size (the smallest of the viewers'). */
  size(size: TerminalSize): void;
  exited(code: number | null): void;
  state(state: TerminalState): void;
  failed(end: ChannelEnd): void;
}

/** Consumed bytes are acknowledged in batches of this size, or after a short pause. */
const ACK_BATCH = 32 * 1024;
const ACK_DELAY_MS = 15;

export class TerminalSession {
  private channel: Channel | undefined;
  private size: TerminalSize;
  private unacknowledged = 0;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped on every (re)open: bytes consumed from an older stream are not acknowledged on the new one. */
  private epoch = 0;
  private stateValue: TerminalState = "opening";

  constructor(
    private readonly connection: Connection,
    readonly project: string,
    readonly name: string,
    size: TerminalSize,
    private readonly events: TerminalEvents,
    /** The shell this viewer saw last, from an earlier page (its `Attached.instance`). */
    private resumeInstance?: string,
  ) {
    this.size = size;
    this.open();
  }

  /** The shell this viewer is attached to, once known. */
  get instance(): string | undefined {
    return this.resumeInstance;
  }

  get state(): TerminalState {
    return this.stateValue;
  }

  /** Keystrokes (a string from xterm's onData is UTF-8 encoded; onBinary's bytes go as they are). */
  input(data: string | Uint8Array): void {
    this.channel?.send(kind.INPUT, typeof data === "string" ? utf8(data) : data);
  }

  /** This viewer's size changed. */
  resize(size: TerminalSize): void {
    if (size.rows < 1 || size.cols < 1) return;
    if (size.rows === this.size.rows && size.cols === this.size.cols) return;
    this.size = size;
    if (this.channel !== undefined && this.channel.spec.service === "terminal") this.channel.spec.size = size;
    this.channel?.send(kind.RESIZE, jsonBody(size));
  }

  /** Ends the shell for every viewer. */
  kill(): void {
    this.channel?.send(kind.KILL);
  }

  /** After the shell exited: open the name again, which starts a new shell (the user asked: no notice about it). */
  restart(): void {
    if (this.stateValue !== "exited" && this.stateValue !== "ended") return;
    this.resumeInstance = undefined;
    this.open();
  }

  /** Stops viewing; the terminal keeps running for others (and for later). */
  close(): void {
    this.channel?.close();
    this.channel = undefined;
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  private open(): void {
    this.channel?.close();
    this.setState("opening");
    const spec: ServiceSpec = { service: "terminal", name: this.name, size: this.size };
    if (this.resumeInstance !== undefined) spec.resume = this.resumeInstance;
    this.channel = this.connection.open(
      this.project,
      spec,
      {
        opened: () => {
          this.epoch++;
          this.unacknowledged = 0;
          this.setState("open");
        },
        frame: (frameKind, body) => this.frame(frameKind, body),
        interrupted: () => this.setState("reconnecting"),
        ended: (end) => {
          this.setState("ended");
          this.events.failed(end);
        },
      },
    );
  }

  private frame(frameKind: number, body: Uint8Array): void {
    switch (frameKind) {
      case kind.OUTPUT:
        this.events.output(body, this.consumer(body.length));
        return;
      case kind.SNAPSHOT:
        this.events.snapshot(body, this.consumer(body.length));
        return;
      case kind.SIZE:
        this.events.size(parseBody<TerminalSize>(body));
        return;
      case kind.ATTACHED: {
        const attached = parseBody<Attached>(body);
        this.resumeInstance = attached.instance;
        // A reopen (after the socket or the project's server came back) asks for this shell again.
        if (this.channel?.spec.service === "terminal") this.channel.spec.resume = attached.instance;
        this.events.attached?.(attached);
        return;
      }
      case kind.EXITED: {
        const exited = parseBody<Exited>(body);
        // Nothing more comes on the channel; closing it is ours to do.
        this.channel?.close();
        this.channel = undefined;
        this.setState("exited");
        this.events.exited(exited.code);
        return;
      }
      default:
        console.warn(`terminal channel: unexpected frame kind ${frameKind}`);
    }
  }

  /** A callback that acknowledges `bytes` once called (once). */
  private consumer(bytes: number): () => void {
    const epoch = this.epoch;
    let done = false;
    return () => {
      if (done || epoch !== this.epoch) return;
      done = true;
      this.unacknowledged += bytes;
      if (this.unacknowledged >= ACK_BATCH) this.acknowledge();
      else if (this.ackTimer === undefined) this.ackTimer = setTimeout(() => this.acknowledge(), ACK_DELAY_MS);
    };
  }

  private acknowledge(): void {
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.unacknowledged === 0) return;
    if (this.channel?.send(kind.ACK, varintBytes(this.unacknowledged))) this.unacknowledged = 0;
  }

  private setState(state: TerminalState): void {
    if (state === this.stateValue) return;
    this.stateValue = state;
    this.events.state(state);
  }
}
