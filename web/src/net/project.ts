/**
 * The project as a whole over one project channel: who is connected and what each looks at (PEOPLE), the running
 * terminals (TERMINALS), both pushed by the local hub whenever they change; and what this page's user looks at
 * (FOCUS), sent again whenever the channel reopens. Pure bookkeeping: rendering is the caller's.
 */

import type { Focus, People, Person, TerminalInfo, TerminalList } from "../protocol/local-hub";
import type { Channel, Connection } from "./connection";
import { jsonBody, parseBody } from "./frame";
import * as kind from "./kinds";

export interface ProjectEvents {
  /** Everyone connected, this page included; empty while the channel is down (their state is unknown then). */
  people(people: Person[]): void;
  terminals(terminals: TerminalInfo[]): void;
}

export class ProjectSession {
  private readonly channel: Channel;
  private focused: Focus = { what: "nothing" };

  constructor(connection: Connection, project: string, events: ProjectEvents) {
    this.channel = connection.open(
      project,
      { service: "project" },
      {
        opened: () => this.sendFocus(),
        frame: (frameKind, body) => {
          if (frameKind === kind.PEOPLE) events.people(parseBody<People>(body).people);
          else if (frameKind === kind.TERMINALS) events.terminals(parseBody<TerminalList>(body).terminals);
        },
        error: (error) => console.warn(`project channel: ${error.message}`),
        interrupted: () => events.people([]),
        ended: () => events.people([]),
      },
    );
  }

  /** What this page's user looks at now. */
  focus(focus: Focus): void {
    if (sameFocus(focus, this.focused)) return;
    this.focused = focus;
    this.sendFocus();
  }

  close(): void {
    this.channel.close();
  }

  private sendFocus(): void {
    this.channel.send(kind.FOCUS, jsonBody(this.focused));
  }
}

export function sameFocus(a: Focus, b: Focus): boolean {
  if (a.what === "file" && b.what === "file") return a.path === b.path;
  if (a.what === "terminal" && b.what === "terminal") return a.name === b.name;
  return a.what === b.what;
}

/** One person (an account, or a client without one) in the project, however many tabs they have open. */
export interface PresentPerson {
  /** A stable key: the account id, else name and colour. */
  key: string;
  name: string;
  color: string;
  /** What their most recently connected tab that looks at something looks at. */
  focus: Focus;
  /** How many connections (tabs) they have open. */
  tabs: number;
}

/**
 * The people to show as avatars: one per account (earliest first), without `self` (the signed-in account), each with
 * the focus of their newest tab that looks at something.
 */
export function presentPeople(people: Person[], self: string | undefined): PresentPerson[] {
  const byKey = new Map<string, PresentPerson>();
  const sorted = [...people].sort((a, b) => a.since_ms - b.since_ms || a.connection - b.connection);
  for (const person of sorted) {
    const key = person.who.user !== "" ? person.who.user : `${person.who.name}\u0000${person.who.color}`;
    if (self !== undefined && key === self) continue;
    const known = byKey.get(key);
    if (known === undefined) {
      byKey.set(key, { key, name: person.who.name, color: person.who.color, focus: person.focus, tabs: 1 });
      continue;
    }
    known.tabs++;
    if (person.focus.what !== "nothing") known.focus = person.focus;
  }
  return [...byKey.values()];
}

/** Up to two initials of a name: "Ada Lovelace" → "AL", "bob" → "B", "" → "?". */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter((word) => word !== "");
  const letters = words.length > 1 ? [words[0]!, words[words.length - 1]!] : words;
  const result = letters.map((word) => [...word][0]!.toLocaleUpperCase()).join("");
  return result === "" ? "?" : result;
}

/** The first `terminal-N` that is neither running nor open in a tab. */
export function nextTerminalName(running: Iterable<string>, open: Iterable<string>): string {
  const taken = new Set([...running, ...open]);
  let number = 1;
  while (taken.has(`terminal-${number}`)) number++;
  return `terminal-${number}`;
}
