/**
 * Where editors keep their sync state between page loads: one localStorage record per document and editor slot.
 *
 * localStorage rather than IndexedDB because it writes synchronously: the record must be on disk before a message
 * goes out (its sequence number must never go backwards) and must be written from `pagehide`, where nothing
 * asynchronous is sure to finish. Two tabs editing one document must not share a sync client id, so each editor
 * claims a slot with a Web Lock (released by the browser when the tab goes away) and uses that slot's record.
 */

import type { SavedClient } from "./tracked-client";

/** The part of `Storage` used here, so tests can pass a map. */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** A claimed slot; `release` frees it for another editor. */
export interface Slot {
  index: number;
  release(): void;
}

/** At most this many editors of one document per browser get a resumable record. */
const MAX_SLOTS = 8;

export class SavedDocuments {
  constructor(
    private readonly storage: KeyValueStore | undefined,
    /** The account: records of different accounts on one browser never mix. */
    private readonly account: string,
  ) {}

  private key(project: string, path: string, slot: number): string {
    return `orrery.doc.v1/${this.account}/${project}/${slot}/${path}`;
  }

  private tryLease(key: string): (() => void) | undefined {
    const storage = this.storage;
    if (storage === undefined) return () => {};
    const tab = typeof sessionStorage === "undefined" ? "page" : tabId();
    try {
      const current = JSON.parse(storage.getItem(key) ?? "null") as { tab: string; until: number } | null;
      if (current !== null && current.tab !== tab && current.until > Date.now()) return undefined;
      const renew = () => storage.setItem(key, JSON.stringify({ tab, until: Date.now() + LEASE_MS }));
      renew();
      const timer = setInterval(renew, LEASE_MS / 3);
      return () => {
        clearInterval(timer);
        storage.removeItem(key);
      };
    } catch {
      return () => {};
    }
  }

  load(project: string, path: string, slot: number): SavedClient | undefined {
    try {
      const text = this.storage?.getItem(this.key(project, path, slot));
      if (text === null || text === undefined) return undefined;
      const saved = JSON.parse(text) as SavedClient;
      if (saved.format !== 1 || !Number.isSafeInteger(saved.client) || !Number.isSafeInteger(saved.seq)) return undefined;
      return saved;
    } catch {
      return undefined;
    }
  }

  /**
   * Writes the record; false when the browser refused (storage full or disabled). A record too large to keep loses
   * its unsent text but keeps its id and sequence number, which must never go backwards.
   */
  save(project: string, path: string, slot: number, saved: SavedClient): boolean {
    if (this.storage === undefined) return false;
    const key = this.key(project, path, slot);
    try {
      this.storage.setItem(key, JSON.stringify(saved));
      return true;
    } catch {
      try {
        this.storage.setItem(key, JSON.stringify({ format: 1, client: saved.client, seq: saved.seq }));
      } catch {
        // Nothing more can be done; the page says the changes are not kept.
      }
      return false;
    }
  }

  remove(project: string, path: string, slot: number): void {
    try {
      this.storage?.removeItem(this.key(project, path, slot));
    } catch {
      // A storage that cannot remove cannot hold anything either.
    }
  }

  /**
   * Claims the first slot of this document no other editor in this browser holds: with a Web Lock where the browser
   * has them (secure contexts), else with a lease in storage that its tab renews while it holds it.
   */
  async claim(project: string, path: string): Promise<Slot> {
    const locks = typeof navigator === "undefined" ? undefined : navigator.locks;
    for (let index = 0; index < MAX_SLOTS; index++) {
      const key = this.key(project, path, index);
      if (claimedHere.has(key)) continue;
      const release = locks !== undefined ? await tryLock(locks, `${key}#lock`) : this.tryLease(`${key}#lease`);
      if (release !== undefined && !claimedHere.has(key)) {
        claimedHere.add(key);
        return {
          index,
          release: () => {
            claimedHere.delete(key);
            release();
          },
        };
      }
      release?.();
    }
    // Every slot is taken: this editor gets a record of its own that the next page load will not find.
    return { index: MAX_SLOTS + Math.floor(Math.random() * 1e9), release: () => {} };
  }
}

/** Slots held by editors of this page. */
const claimedHere = new Set<string>();

/** How long a lease lasts without renewal; its holder renews it at a third of that. */
const LEASE_MS = 15_000;

/** This tab's id, kept across reloads of the tab (so a reload takes its own slot back at once). */
function tabId(): string {
  const key = "orrery.tab";
  try {
    const existing = sessionStorage.getItem(key);
    if (existing !== null) return existing;
    const id = Math.random().toString(36).slice(2);
    sessionStorage.setItem(key, id);
    return id;
  } catch {
    return "page";
  }
}

function tryLock(locks: LockManager, name: string): Promise<(() => void) | undefined> {
  return new Promise((resolve) => {
    locks
      .request(name, { ifAvailable: true }, (lock) => {
        if (lock === null) {
          resolve(undefined);
          return undefined;
        }
        // Held until `release` is called (or the page goes away).
        return new Promise<void>((release) => resolve(() => release()));
      })
      .catch(() => resolve(undefined));
  });
}
