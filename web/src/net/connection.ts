/**
 * The browser's one WebSocket to the hub (`/ws`, `hub/src/browser.rs`), and the channels multiplexed over it.
 *
 * The connection survives its sockets: when a socket dies (network, hub restart, silence past three heartbeats) it
 * reconnects with backoff and reopens every channel that was open, so services resume (documents with their sync
 * client id, terminals by name). It asks the hub to probe it (PROBE) and answers every PING at once, so that when this
 * page goes away without closing its socket (the network dropped), the hub notices in seconds and collaborators stop
 * seeing its cursors. Close code 4401 means the sign-in is gone: then it stops and says so.
 * It does no rendering and knows nothing of documents or terminals beyond the frames their channels carry.
 */

import type { HubError, Welcome } from "../protocol/hub";
import { CLOSE_NOT_SIGNED_IN, MAX_CHANNEL, VERSION } from "../protocol/hub";
import type { Close, ErrorBody, Opened, TerminalSize } from "../protocol/local-hub";
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff";
import { decodeFrame, encodeFrame, FrameError, jsonBody, parseBody } from "./frame";
import * as kind from "./kinds";

/** What a channel is bound to (the `Open` message without its channel and project). */
export type ServiceSpec =
  | { service: "document"; path: string; client: number }
  | { service: "terminal"; name: string; size: TerminalSize; resume?: string }
  | { service: "files" }
  | { service: "project" };

/**
 * - `connecting`: the first socket is on its way;
 * - `connected`: a socket is up and the hub welcomed us;
 * - `reconnecting`: the socket was lost and another attempt is scheduled or under way;
 * - `offline`: like reconnecting, but the browser says it has no network;
 * - `signed-out`: the hub refused the sign-in; nothing more happens until the user signs in again;
 * - `closed`: `close()` was called.
 */
export type ConnectionState = "connecting" | "connected" | "reconnecting" | "offline" | "signed-out" | "closed";

/** Events of a socket, whatever implements it (a browser WebSocket, or a fake in tests). */
export interface SocketEvents {
  open(): void;
  message(data: Uint8Array): void;
  close(code: number, reason: string): void;
}

export interface SocketLike {
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** Bytes queued but not yet sent; uploads pace themselves on it. */
  readonly bufferedAmount: number;
}

export type SocketFactory = (url: string, events: SocketEvents) => SocketLike;

/** Sockets of the browser's `WebSocket`. */
export const browserSocket: SocketFactory = (url, events) => {
  const socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => events.open();
  socket.onmessage = (event: MessageEvent) => {
    if (event.data instanceof ArrayBuffer) events.message(new Uint8Array(event.data));
  };
  socket.onclose = (event: CloseEvent) => events.close(event.code, event.reason);
  return {
    send: (data) => socket.send(data),
    close: (code, reason) => socket.close(code, reason),
    get bufferedAmount() {
      return socket.bufferedAmount;
    },
  };
};

/** The `/ws` address of the page's own origin. */
export function defaultUrl(): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

export interface ConnectionOptions {
  url: string;
  socketFactory?: SocketFactory;
  backoff?: BackoffOptions;
  random?: () => number;
  /** Whether the browser believes it has a network (`navigator.onLine`). */
  isOnline?: () => boolean;
  /**
   * Asked after a socket failed before the hub welcomed it, because a refused upgrade (401) looks like any other
   * failure from script: resolve false when the sign-in is gone.
   */
  checkSignedIn?: () => Promise<boolean>;
  /** A socket that sends no WELCOME within this many milliseconds is given up. */
  connectTimeoutMs?: number;
  /** How long the quick check after an `offline` event waits for a PONG. */
  probeTimeoutMs?: number;
}

/** Why a channel ended for good. */
export type ChannelEnd =
  /** The hub refused to open it (no such project, not a collaborator, a path that is not a text file, ...). */
  | { by: "refused"; code: string; message: string }
  /** The sign-in is gone. */
  | { by: "signed-out" }
  /** The connection was closed by the app. */
  | { by: "connection-closed" };

/** What a service does with its channel. Every method is optional except `frame`. */
export interface ChannelHandler {
  /** The channel is open; `resumed` when it was open before (after a reconnect): resume the service's state. */
  opened?(opened: Opened, resumed: boolean): void;
  /** A frame for this channel (ERROR frames go to `error`). */
  frame(kind: number, body: Uint8Array): void;
  /** An ERROR on the open channel; the channel stays open. */
  error?(error: ChannelError): void;
  /** The channel stopped working for now (socket lost, or the hub closed it): it reopens by itself. */
  interrupted?(why: string): void;
  /** The channel ended for good. */
  ended?(end: ChannelEnd): void;
}

export type ChannelState = "opening" | "open" | "waiting" | "closed";

/** An ERROR frame's body: the local hub's `ErrorBody` or the hub's `HubError`, which share their shape. */
export interface ChannelError {
  code: ErrorBody["code"] | HubError["code"];
  message: string;
  /** The file request it answers, if any. */
  request?: number | null;
}

/** Error codes after which opening again is pointless. Anything else (`unavailable`, `internal`) is retried. */
const FINAL_OPEN_ERRORS = new Set([
  "not_signed_in",
  "no_project",
  "malformed",
  "not_found",
  "outside_project",
  "binary",
  "refused",
  "already_exists",
  "too_large_to_edit",
  "too_large",
]);

/** One service over the connection. */
export class Channel {
  /** The number on the current socket; a reopen after the hub closed it takes a fresh one. */
  number = 0;
  state: ChannelState = "waiting";
  private wasOpen = false;
  /** The answer to our OPEN, when it was an error: the local hub's codes or the hub's own. */
  private openError: ChannelError | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  readonly retry: Backoff;

  constructor(
    private readonly connection: Connection,
    readonly project: string,
    /** What it opens; a terminal updates its size here so a reopen asks for the current one. */
    readonly spec: ServiceSpec,
    private readonly handler: ChannelHandler,
    backoff: BackoffOptions,
    random: () => number,
  ) {
    this.retry = new Backoff({ initialMs: Math.max(backoff.initialMs, 1000), maxMs: Math.max(backoff.maxMs, 30_000) }, random);
  }

  get isOpen(): boolean {
    return this.state === "open";
  }

  /** Sends a frame on the open channel; false (and nothing sent) when it is not open. */
  send(frameKind: number, body: Uint8Array = new Uint8Array(0)): boolean {
    if (this.state !== "open") return false;
    return this.connection.sendFrame(this.number, frameKind, body);
  }

  /** Bytes the socket has queued: senders of bulk data wait while it is high. */
  get bufferedAmount(): number {
    return this.connection.bufferedAmount;
  }

  /** Closes the channel for good. */
  close(): void {
    if (this.state === "closed") return;
    if (this.state === "open" || this.state === "opening") {
      this.connection.sendControl(kind.CLOSE, { channel: this.number } satisfies Close);
    }
    this.finish();
    this.connection.forget(this);
  }

  private finish(): void {
    this.state = "closed";
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** @internal The socket is ready: ask the hub to open. */
  sendOpen(number: number): void {
    if (this.state === "closed") return;
    this.number = number;
    this.state = "opening";
    this.openError = undefined;
    this.connection.sendControl(kind.OPEN, { channel: number, project: this.project, ...this.spec });
  }

  /** @internal */
  onOpened(opened: Opened): void {
    if (this.state !== "opening") return;
    this.state = "open";
    const resumed = this.wasOpen;
    this.wasOpen = true;
    this.retry.reset();
    this.handler.opened?.(opened, resumed);
  }

  /** @internal */
  onFrame(frameKind: number, body: Uint8Array): void {
    if (frameKind === kind.ERROR) {
      let error: ChannelError;
      try {
        error = parseBody<ChannelError>(body);
      } catch {
        error = { code: "internal", message: "the server sent an error that could not be read" };
      }
      // While opening, an ERROR is the answer to the OPEN; the CLOSE that follows settles it.
      if (this.state === "opening") this.openError = error;
      else if (this.state === "open") this.handler.error?.(error);
      return;
    }
    if (this.state === "open") this.handler.frame(frameKind, body);
  }

  /** @internal The hub closed the channel (refused it, or its service ended). */
  onClosedByHub(reason: string | null | undefined): void {
    if (this.state === "closed") return;
    const error = this.openError;
    this.openError = undefined;
    if (error?.code === "not_signed_in") {
      this.connection.signedOut();
      return;
    }
    if (this.state === "opening" && error !== undefined && FINAL_OPEN_ERRORS.has(error.code)) {
      this.finish();
      this.connection.forget(this);
      this.handler.ended?.({ by: "refused", code: error.code, message: error.message });
      return;
    }
    const why = error?.message ?? reason ?? "the server closed the channel";
    this.handler.interrupted?.(why);
    this.state = "waiting";
    this.connection.release(this);
    const delay = this.retry.next();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connection.reopen(this);
    }, delay);
  }

  /** @internal The socket went away. */
  onSocketLost(why: string): void {
    if (this.state === "closed") return;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const wasOpen = this.state === "open";
    this.state = "waiting";
    if (wasOpen) this.handler.interrupted?.(why);
  }

  /** @internal The connection ended for good. */
  onEnded(end: ChannelEnd): void {
    if (this.state === "closed") return;
    this.finish();
    this.handler.ended?.(end);
  }
}

type Listener<T> = (value: T) => void;

export class Connection {
  private socket: SocketLike | undefined;
  /** Bumped for every socket, so events of a socket we gave up on are ignored. */
  private generation = 0;
  private welcomed = false;
  private stateValue: ConnectionState = "connecting";
  private welcomeValue: Welcome | undefined;
  private readonly channels = new Set<Channel>();
  private readonly byNumber = new Map<number, Channel>();
  private nextNumber = 1;
  private readonly backoff: Backoff;
  private readonly backoffOptions: BackoffOptions;
  private readonly random: () => number;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private probeTimer: ReturnType<typeof setTimeout> | undefined;
  private lastHeard = 0;
  private connectedAt = 0;
  /** When the next attempt starts (ms since the epoch), while one is scheduled. */
  retryAt: number | undefined;
  private readonly stateListeners = new Set<Listener<ConnectionState>>();
  private readonly welcomeListeners = new Set<Listener<Welcome>>();
  private readonly problemListeners = new Set<Listener<string>>();
  private readonly projectsListeners = new Set<Listener<void>>();

  constructor(private readonly options: ConnectionOptions) {
    this.backoffOptions = options.backoff ?? DEFAULT_BACKOFF;
    this.random = options.random ?? Math.random;
    this.backoff = new Backoff(this.backoffOptions, this.random);
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** The hub's welcome on the current (or last) socket: who we are signed in as. */
  get welcome(): Welcome | undefined {
    return this.welcomeValue;
  }

  get bufferedAmount(): number {
    return this.socket?.bufferedAmount ?? 0;
  }

  onState(listener: Listener<ConnectionState>): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  onWelcome(listener: Listener<Welcome>): () => void {
    this.welcomeListeners.add(listener);
    return () => this.welcomeListeners.delete(listener);
  }

  /** Problems worth a line in the console or a notice: protocol errors on channel 0, an unknown protocol version. */
  onProblem(listener: Listener<string>): () => void {
    this.problemListeners.add(listener);
    return () => this.problemListeners.delete(listener);
  }

  /**
   * The hub says this account's project list changed (an invitation, a removal, a rename), and also each time a socket
   * is welcomed, since changes made while it was down went unheard.
   */
  onProjectsChanged(listener: Listener<void>): () => void {
    this.projectsListeners.add(listener);
    return () => this.projectsListeners.delete(listener);
  }

  /** Starts connecting. */
  start(): void {
    if (this.socket === undefined && this.reconnectTimer === undefined && this.isActive()) this.connect();
  }

  /** Opens a channel; it opens as soon as a socket is up, and again after every reconnect, until closed. */
  open(project: string, spec: ServiceSpec, handler: ChannelHandler): Channel {
    const channel = new Channel(this, project, spec, handler, this.backoffOptions, this.random);
    this.channels.add(channel);
    if (this.welcomed) this.reopen(channel);
    return channel;
  }

  /** Tries at once instead of waiting for the scheduled attempt (a "reconnect now" button, the `online` event). */
  retryNow(): void {
    if (!this.isActive() || this.socket !== undefined) return;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.connect();
  }

  /**
   * The browser says the network changed. Going offline, check the socket quickly with a PING (a dead socket can
   * look open for a long time); coming online, reconnect at once.
   */
  networkChanged(online: boolean): void {
    if (!this.isActive()) return;
    if (online) {
      this.backoff.reset();
      if (this.socket === undefined) this.retryNow();
      else if (this.welcomed) this.probe();
      else this.setState(this.stateValue === "offline" ? "reconnecting" : this.stateValue);
    } else {
      if (this.welcomed) this.probe();
      else if (this.stateValue === "reconnecting") this.setState("offline");
    }
  }

  /** Closes everything for good (sign-out, leaving the app). */
  close(): void {
    if (this.stateValue === "closed") return;
    this.stop("closed");
    for (const channel of [...this.channels]) channel.onEnded({ by: "connection-closed" });
    this.channels.clear();
  }

  // ---- for channels

  /** @internal */
  sendFrame(channel: number, frameKind: number, body: Uint8Array): boolean {
    if (this.socket === undefined || !this.welcomed) return false;
    try {
      this.socket.send(encodeFrame(channel, frameKind, body));
      return true;
    } catch {
      return false;
    }
  }

  /** @internal */
  sendControl(frameKind: number, value: unknown): void {
    this.sendFrame(kind.CONTROL, frameKind, jsonBody(value));
  }

  /** @internal The channel is closed: drop it. */
  forget(channel: Channel): void {
    this.channels.delete(channel);
    this.release(channel);
  }

  /** @internal The channel's number is no longer in use on this socket. */
  release(channel: Channel): void {
    if (this.byNumber.get(channel.number) === channel) this.byNumber.delete(channel.number);
  }

  /** @internal Sends OPEN for the channel under a fresh number, if the socket is up. */
  reopen(channel: Channel): void {
    if (!this.welcomed || channel.state === "closed" || !this.channels.has(channel)) return;
    this.release(channel);
    const number = this.allocate();
    this.byNumber.set(number, channel);
    channel.sendOpen(number);
  }

  // ---- the socket

  private isActive(): boolean {
    return this.stateValue !== "closed" && this.stateValue !== "signed-out";
  }

  private isOnline(): boolean {
    return this.options.isOnline?.() ?? true;
  }

  private setState(state: ConnectionState): void {
    if (state === this.stateValue) return;
    this.stateValue = state;
    for (const listener of [...this.stateListeners]) listener(state);
  }

  private problem(message: string): void {
    for (const listener of [...this.problemListeners]) listener(message);
  }

  private allocate(): number {
    // Numbers are not reused on one socket, so a late frame for a closed channel never reaches a new one.
    for (;;) {
      const number = this.nextNumber;
      this.nextNumber = this.nextNumber >= MAX_CHANNEL ? 1 : this.nextNumber + 1;
      if (!this.byNumber.has(number)) return number;
    }
  }

  private connect(): void {
    this.retryAt = undefined;
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    let opened = false;
    this.welcomed = false;
    try {
      this.socket = (this.options.socketFactory ?? browserSocket)(this.options.url, {
        open: () => {
          if (current()) opened = true;
        },
        message: (data) => {
          if (current()) this.receive(data);
        },
        close: (code, reason) => {
          if (current()) this.lost(code, reason, opened);
        },
      });
    } catch (error) {
      this.socket = undefined;
      this.problem(`could not open a WebSocket: ${String(error)}`);
      this.schedule(false);
      return;
    }
    this.connectTimer = setTimeout(() => {
      if (current() && !this.welcomed) this.lost(0, "no answer from the server", opened);
    }, this.options.connectTimeoutMs ?? 10_000);
  }

  private receive(data: Uint8Array): void {
    this.lastHeard = Date.now();
    let frame;
    try {
      frame = decodeFrame(data);
    } catch (error) {
      this.problem(error instanceof FrameError ? error.message : String(error));
      return;
    }
    if (frame.channel !== kind.CONTROL) {
      this.byNumber.get(frame.channel)?.onFrame(frame.kind, frame.body);
      return;
    }
    try {
      this.control(frame.kind, frame.body);
    } catch (error) {
      this.problem(error instanceof FrameError ? error.message : String(error));
    }
  }

  private control(frameKind: number, body: Uint8Array): void {
    switch (frameKind) {
      case kind.WELCOME: {
        const welcome = parseBody<Welcome>(body);
        if (welcome.version !== VERSION) {
          this.problem(`the server speaks protocol version ${welcome.version}, this page ${VERSION}: reload the page`);
          this.socket?.close(1000, "unknown protocol version");
          return;
        }
        this.welcomed = true;
        this.welcomeValue = welcome;
        this.connectedAt = Date.now();
        if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
        this.connectTimer = undefined;
        this.startHeartbeat(welcome.heartbeat_ms);
        this.sendFrame(kind.CONTROL, kind.PROBE, new Uint8Array(0));
        this.setState("connected");
        for (const listener of [...this.welcomeListeners]) listener(welcome);
        for (const channel of [...this.channels]) this.reopen(channel);
        for (const listener of [...this.projectsListeners]) listener();
        return;
      }
      case kind.OPENED: {
        const opened = parseBody<Opened>(body);
        this.byNumber.get(opened.channel)?.onOpened(opened);
        return;
      }
      case kind.CLOSE: {
        const close = parseBody<Close>(body);
        this.byNumber.get(close.channel)?.onClosedByHub(close.reason);
        return;
      }
      case kind.PONG:
        this.settleProbe();
        return;
      case kind.PING:
        // The hub checks that this page is still here; answered from here, not a timer, so hidden tabs answer too.
        this.sendFrame(kind.CONTROL, kind.PONG, new Uint8Array(0));
        return;
      case kind.PROJECTS_CHANGED:
        for (const listener of [...this.projectsListeners]) listener();
        return;
      case kind.ERROR: {
        const error = parseBody<HubError>(body);
        this.problem(`the server reported: ${error.message} (${error.code})`);
        return;
      }
      default:
        this.problem(`an unexpected frame of kind ${frameKind} on the control channel`);
    }
  }

  private startHeartbeat(intervalMs: number): void {
    this.stopHeartbeat();
    const interval = Math.max(1000, intervalMs);
    this.heartbeatTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > 3 * interval) {
        this.socket?.close(4000, "no answer for three heartbeats");
        this.lost(0, "the server stopped answering", true);
        return;
      }
      this.sendFrame(kind.CONTROL, kind.PING, new Uint8Array(0));
    }, interval);
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    this.settleProbe();
  }

  private probe(): void {
    if (this.probeTimer !== undefined) return;
    this.sendFrame(kind.CONTROL, kind.PING, new Uint8Array(0));
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      this.socket?.close(4000, "no answer to a ping");
      this.lost(0, "the network seems to be gone", true);
    }, this.options.probeTimeoutMs ?? 3000);
  }

  private settleProbe(): void {
    if (this.probeTimer !== undefined) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
  }

  /** The socket is gone (closed, failed, or given up on). */
  private lost(code: number, reason: string, opened: boolean): void {
    const welcomed = this.welcomed;
    this.generation++;
    this.socket = undefined;
    this.welcomed = false;
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.stopHeartbeat();
    this.byNumber.clear();
    if (!this.isActive()) return;
    if (code === CLOSE_NOT_SIGNED_IN) {
      this.signedOut();
      return;
    }
    const why = reason || "the connection to the server was lost";
    for (const channel of [...this.channels]) channel.onSocketLost(why);
    // A connection that lived a while earns a quick retry; one that keeps dying right away keeps backing off.
    if (welcomed && Date.now() - this.connectedAt > 10_000) this.backoff.reset();
    if (!welcomed && !opened && this.options.checkSignedIn !== undefined) {
      const generation = this.generation;
      this.schedule(true);
      this.options.checkSignedIn().then(
        (signedIn) => {
          if (!signedIn && generation === this.generation && this.isActive()) this.signedOut();
        },
        () => {},
      );
      return;
    }
    this.schedule(true);
  }

  private schedule(failed: boolean): void {
    if (!failed) this.backoff.reset();
    const delay = this.backoff.next();
    this.retryAt = Date.now() + delay;
    this.setState(this.isOnline() ? "reconnecting" : "offline");
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.isActive()) this.connect();
    }, delay);
    // Tell listeners about the new retry time even when the state did not change.
    for (const listener of [...this.stateListeners]) listener(this.stateValue);
  }

  /** @internal The sign-in is gone: stop, and end every channel. */
  signedOut(): void {
    this.stop("signed-out");
    for (const channel of [...this.channels]) channel.onEnded({ by: "signed-out" });
    this.channels.clear();
  }

  private stop(state: ConnectionState): void {
    this.generation++;
    const socket = this.socket;
    this.socket = undefined;
    this.welcomed = false;
    this.retryAt = undefined;
    for (const timer of [this.reconnectTimer, this.connectTimer, this.probeTimer]) {
      if (timer !== undefined) clearTimeout(timer);
    }
    this.reconnectTimer = undefined;
    this.connectTimer = undefined;
    this.stopHeartbeat();
    this.byNumber.clear();
    socket?.close(1000, "closed by the page");
    this.setState(state);
  }
}
