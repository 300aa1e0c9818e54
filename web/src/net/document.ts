/**
 * One open document: a sync client driven over a document channel, its saved state, presence and history.
 *
 * It sends as soon as there is an edit and nothing in flight, retransmits the message in flight after a reconnect
 * (or a long silence), saves its unacknowledged state before every message goes out, and reports a state the user
 * can read. Positions and deltas here are in code points, as the protocol counts; the editor converts.
 */

import type {
  HistoryRequest,
  HistoryResponse,
  Notice,
  Opened,
  PeerPresence,
  Presence,
  Presences,
} from "../protocol/local-hub";
import { isSyncError, type Delta } from "../sync";
import type { Channel, ChannelEnd, ChannelError, Connection, ConnectionState } from "./connection";
import { FrameError, jsonBody, parseBody } from "./frame";
import * as kind from "./kinds";
import type { SavedDocuments, Slot } from "./saved-documents";
import { newClientId, TrackedClient } from "./tracked-client";

/** What the user is shown about the document's state. */
export type SyncState = "saved" | "syncing" | "offline" | "reconnecting";

export interface DocumentEvents {
  /** The text is known (first sync, or a restored text after a reload): the editor shows `text`. */
  ready(text: string): void;
  /** Remote changes; `delta` turns the previous text into the current one. */
  remoteChange(delta: Delta): void;
  state(state: SyncState): void;
  /** Other collaborators' cursors (yours left out). */
  presences(peers: PeerPresence[]): void;
  readOnly(readOnly: boolean): void;
  /** Something the user should read (an edit that did not make it, a refusal). */
  notice(message: string, dropped?: string): void;
  /** The document cannot be opened (or was closed for good). */
  failed(end: ChannelEnd): void;
  /** The file is not on disk and nothing typed here waits to be saved into it: the editor says it does not exist. */
  missing?(): void;
}

export interface DocumentOptions {
  connection: Connection;
  saved: SavedDocuments;
  project: string;
  path: string;
  events: DocumentEvents;
  /** How long a message may wait for its reply before it is sent again. */
  retransmitMs?: number;
}

/** A client id whose sequence numbers ran this high starts afresh when it has nothing unsent (restoring replays them). */
const MAX_RESUMED_SEQ = 200_000;

interface PendingHistory {
  op: HistoryRequest["op"];
  resolve(response: HistoryResponse): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

export class DocumentSession {
  private tracked!: TrackedClient;
  private channel: Channel | undefined;
  private slot: Slot | undefined;
  private ready = false;
  private everOpened = false;
  private closed = false;
  private stateValue: SyncState = "syncing";
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
  private retransmitTimer: ReturnType<typeof setTimeout> | undefined;
  private presenceTimer: ReturnType<typeof setTimeout> | undefined;
  private presence: Presence | undefined;
  private sentPresence: Presence | undefined;
  /** Our own entry in PRESENCES, once recognised. */
  private selfConnection: number | undefined;
  private readonly historyQueue: PendingHistory[] = [];
  private readonly unsubscribe: () => void;
  readOnly = false;
  /** False when the browser would not keep the unsent changes (storage full or disabled). */
  persisted = true;

  private constructor(private readonly options: DocumentOptions) {
    this.unsubscribe = options.connection.onState(() => this.updateState());
  }

  /** Opens a document: claims an editor slot, restores what a previous page left, and opens the channel. */
  static async open(options: DocumentOptions): Promise<DocumentSession> {
    const session = new DocumentSession(options);
    await session.start();
    return session;
  }

  private async start(): Promise<void> {
    const { saved, project, path } = this.options;
    this.slot = await saved.claim(project, path);
    if (this.closed) {
      this.slot.release();
      return;
    }
    const record = saved.load(project, path, this.slot.index);
    this.tracked = TrackedClient.fresh(newClientId());
    if (record !== undefined) {
      if (record.unacknowledged === undefined && record.seq > MAX_RESUMED_SEQ) {
        this.tracked = TrackedClient.fresh(newClientId());
      } else {
        try {
          this.tracked = TrackedClient.restore(record);
        } catch (error) {
          console.warn("could not restore the saved editor state", error);
          const text = record.unacknowledged?.text;
          if (text !== undefined) {
            this.options.events.notice(
              "Changes you made here earlier could not be merged back in. They are shown below so you can copy them.",
              text,
            );
          }
        }
      }
    }
    this.persist();
    // A restored client with unsent edits already has its text: show it at once, even offline.
    if (this.tracked.client.hasUnacknowledged) this.becomeReady();
    this.channel = this.options.connection.open(
      project,
      { service: "document", path, client: this.tracked.clientId },
      {
        opened: (opened) => this.opened(opened),
        frame: (frameKind, body) => this.frame(frameKind, body),
        error: (error) => this.channelError(error),
        interrupted: () => this.interrupted(),
        ended: (end) => this.ended(end),
      },
    );
    this.updateState();
  }

  get state(): SyncState {
    return this.stateValue;
  }

  get text(): string {
    return this.tracked.client.text;
  }

  /** Length of the text in code points. */
  get length(): number {
    return this.tracked.client.length;
  }

  get isReady(): boolean {
    return this.ready;
  }

  get clientId(): number {
    return this.tracked.clientId;
  }

  /** A local edit, as a delta against the current text (code points). */
  edit(delta: Delta): void {
    if (this.closed) return;
    this.tracked.client.edit(delta);
    this.flush();
    this.scheduleSave();
    this.updateState();
  }

  /** This editor's cursor and selection, in code points. */
  setPresence(cursor: number, anchor: number): void {
    this.presence = { cursor, anchor };
    if (this.presenceTimer !== undefined) return;
    this.presenceTimer = setTimeout(() => {
      this.presenceTimer = undefined;
      this.sendPresence();
    }, 40);
  }

  /** A history request; resolves with its answer. */
  history(request: HistoryRequest): Promise<HistoryResponse> {
    return new Promise((resolve, reject) => {
      if (this.channel === undefined || !this.channel.send(kind.HISTORY, jsonBody(request))) {
        reject(new Error("The document is not connected right now; try again in a moment."));
        return;
      }
      const timer = setTimeout(() => {
        const index = this.historyQueue.findIndex((pending) => pending.timer === timer);
        if (index >= 0) this.historyQueue.splice(index, 1);
        reject(new Error("The server did not answer in time; try again."));
      }, 20_000);
      this.historyQueue.push({ op: request.op, resolve, reject, timer });
    });
  }

  /** Writes the saved state now (from `pagehide`, or before a message goes out). */
  persist(): void {
    if (this.slot === undefined || this.tracked === undefined) return;
    if (this.saveTimer !== undefined) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    this.persisted = this.options.saved.save(this.options.project, this.options.path, this.slot.index, this.tracked.save());
  }

  /** Closes the editor: the saved state stays for next time. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.persist();
    this.channel?.close();
    for (const timer of [this.saveTimer, this.retransmitTimer, this.presenceTimer]) {
      if (timer !== undefined) clearTimeout(timer);
    }
    this.failHistory("The document was closed.");
    this.unsubscribe();
    this.slot?.release();
  }

  // ---- the channel

  private opened(opened: Opened): void {
    this.everOpened = true;
    this.readOnly = opened.read_only;
    this.options.events.readOnly(opened.read_only);
    // Unsent edits from this browser go on: they make the file again, as the user meant.
    if (opened.missing === true && !this.tracked.client.hasUnacknowledged) this.options.events.missing?.();
    this.selfConnection = undefined;
    const client = this.tracked.client;
    const inFlight = client.retransmit();
    if (inFlight !== undefined) {
      this.send(inFlight);
    } else {
      if (client.isSynced) client.requestSync();
      this.flush();
    }
    if (this.presence !== undefined) this.sendPresence();
    this.updateState();
  }

  private frame(frameKind: number, body: Uint8Array): void {
    try {
      switch (frameKind) {
        case kind.SYNC_REPLY:
          this.syncReply(body);
          return;
        case kind.PRESENCES:
          this.presences(parseBody<Presences>(body));
          return;
        case kind.HISTORY_REPLY:
          this.historyReply(parseBody<HistoryResponse>(body));
          return;
        case kind.NOTICE: {
          const notice = parseBody<Notice>(body);
          this.options.events.notice(notice.message, notice.dropped ?? undefined);
          return;
        }
        default:
          console.warn(`document channel: unexpected frame kind ${frameKind}`);
      }
    } catch (error) {
      if (error instanceof FrameError) console.warn(`document channel: ${error.message}`);
      else throw error;
    }
  }

  private syncReply(body: Uint8Array): void {
    let events;
    try {
      events = this.tracked.receive(body);
    } catch (error) {
      if (isSyncError(error)) {
        console.warn("a sync reply could not be read", error);
        return;
      }
      throw error;
    }
    const wasReady = this.ready;
    if (!wasReady && this.tracked.client.isSynced) this.becomeReady();
    for (const event of events) {
      switch (event.type) {
        case "changed":
          if (wasReady) this.options.events.remoteChange(event.delta);
          break;
        case "failed":
          this.options.events.notice("An edit could not be applied because the file reached its size limit.", event.dropped);
          break;
        case "resyncNeeded":
          console.warn(`resyncing: ${event.reason}`);
          break;
        case "serverError":
          console.warn(`the server refused a sync message: ${event.message}`);
          break;
      }
    }
    if (!this.tracked.client.isInFlight) this.clearRetransmit();
    this.persist();
    this.flush();
    this.updateState();
  }

  private presences(presences: Presences): void {
    const name = this.options.connection.welcome?.name;
    const sent = this.sentPresence;
    if (this.selfConnection === undefined && sent !== undefined) {
      const mine = presences.peers.filter(
        (peer) => peer.name === name && peer.cursor === sent.cursor && peer.anchor === sent.anchor,
      );
      if (mine.length === 1) this.selfConnection = mine[0]!.connection;
    }
    const others = presences.peers.filter((peer) =>
      this.selfConnection !== undefined
        ? peer.connection !== this.selfConnection
        : !(peer.name === name && sent !== undefined && peer.cursor === sent.cursor && peer.anchor === sent.anchor),
    );
    this.options.events.presences(others);
  }

  private historyReply(response: HistoryResponse): void {
    const index = this.historyQueue.findIndex((pending) => pending.op === response.op);
    if (index < 0) return;
    const [pending] = this.historyQueue.splice(index, 1);
    clearTimeout(pending!.timer);
    pending!.resolve(response);
  }

  private channelError(error: ChannelError): void {
    if (error.code === "sync") {
      // The server could not take our message: start over from its text, keeping our edits.
      this.tracked.receiveMessage({ type: "Error", code: 0, message: error.message });
      this.clearRetransmit();
      this.flush();
      return;
    }
    if (this.historyQueue.length > 0 && error.code !== "channel_in_use") {
      const pending = this.historyQueue.shift()!;
      clearTimeout(pending.timer);
      pending.reject(new Error(error.message));
      return;
    }
    if (error.code === "too_large_to_edit") {
      this.options.events.notice("This file is too large to edit here; it is open read-only.");
      return;
    }
    this.options.events.notice(`The server reported a problem with this file: ${error.message}`);
  }

  private interrupted(): void {
    this.clearRetransmit();
    // Others' cursors are stale until the channel is back and they are sent again.
    this.options.events.presences([]);
    this.failHistory("The connection was lost; try again once it is back.");
    this.updateState();
  }

  private ended(end: ChannelEnd): void {
    this.clearRetransmit();
    this.failHistory("The document was closed.");
    this.persist();
    this.options.events.failed(end);
    this.updateState();
  }

  // ---- sending

  private flush(): void {
    if (this.channel === undefined || !this.channel.isOpen) return;
    const bytes = this.tracked.pollBytes();
    if (bytes === undefined) return;
    // Saved before it leaves: a reload must continue above this sequence number.
    this.persist();
    this.send(bytes);
  }

  private send(bytes: Uint8Array): void {
    if (this.channel?.send(kind.SYNC, bytes) !== true) return;
    this.clearRetransmit();
    this.retransmitTimer = setTimeout(() => {
      this.retransmitTimer = undefined;
      const again = this.tracked.client.retransmit();
      if (again !== undefined) this.send(again);
    }, this.options.retransmitMs ?? 10_000);
  }

  private clearRetransmit(): void {
    if (this.retransmitTimer !== undefined) clearTimeout(this.retransmitTimer);
    this.retransmitTimer = undefined;
  }

  private sendPresence(): void {
    if (this.presence === undefined || this.channel === undefined) return;
    if (this.channel.send(kind.PRESENCE, jsonBody(this.presence))) this.sentPresence = this.presence;
  }

  private scheduleSave(): void {
    if (this.saveTimer !== undefined) return;
    this.saveTimer = setTimeout(() => this.persist(), 300);
  }

  private becomeReady(): void {
    if (this.ready) return;
    this.ready = true;
    this.options.events.ready(this.tracked.client.text);
  }

  private failHistory(message: string): void {
    for (const pending of this.historyQueue.splice(0)) {
      clearTimeout(pending.timer);
      pending.reject(new Error(message));
    }
  }

  private updateState(): void {
    const connection: ConnectionState = this.options.connection.state;
    const client = this.tracked?.client;
    let state: SyncState;
    if (connection === "offline" || this.channel?.state === "closed") state = "offline";
    else if (this.channel === undefined || !this.channel.isOpen) {
      // The first open is "syncing" (opening); losing an open channel is "reconnecting".
      state = this.everOpened || connection === "reconnecting" ? "reconnecting" : "syncing";
    } else if (client === undefined || !client.isSynced || client.hasUnacknowledged || client.isInFlight) state = "syncing";
    else state = "saved";
    if (state === this.stateValue) return;
    this.stateValue = state;
    this.options.events.state(state);
  }

  /** True while edits wait for the server. */
  get hasUnsentChanges(): boolean {
    return this.tracked?.client.hasUnacknowledged ?? false;
  }
}
