import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Attached, Person, TerminalInfo } from "../protocol/local-hub";
import { Connection } from "./connection";
import { FakeHub } from "./fake-hub";
import { parseBody } from "./frame";
import * as kind from "./kinds";
import { initials, nextTerminalName, presentPeople, ProjectSession } from "./project";
import { TerminalSession, type TerminalEvents } from "./terminal";

function connect() {
  const hub = new FakeHub();
  const connection = new Connection({ url: "ws://test/ws", socketFactory: hub.factory, random: () => 1 });
  connection.start();
  hub.latest.welcome();
  return { hub, connection };
}

function person(connection: number, user: string, name: string, focus: Person["focus"], since = connection): Person {
  return { connection, who: { user, name, color: "#268bd2" }, focus, since_ms: since };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("presentPeople", () => {
  it("shows each other person once, with what their newest tab looks at, and never oneself", () => {
    const people = [
      person(1, "me", "Ada", { what: "file", path: "a.py" }),
      person(2, "bob", "Bob", { what: "file", path: "notes.txt" }),
      person(3, "carol", "Carol", { what: "nothing" }),
      person(4, "bob", "Bob", { what: "terminal", name: "terminal-1" }),
      person(5, "bob", "Bob", { what: "nothing" }),
    ];
    const shown = presentPeople(people, "me");
    expect(shown.map((someone) => [someone.name, someone.focus, someone.tabs])).toEqual([
      ["Bob", { what: "terminal", name: "terminal-1" }, 3],
      ["Carol", { what: "nothing" }, 1],
    ]);
  });

  it("tells apart clients without an account id by name and colour", () => {
    const people = [person(1, "", "bench", { what: "nothing" }), person(2, "", "bench", { what: "nothing" })];
    people[1]!.who.color = "#859900";
    expect(presentPeople(people, "me")).toHaveLength(2);
  });
});

describe("names", () => {
  it("makes initials from first and last words, whatever the script", () => {
    expect(initials("Ada Lovelace")).toBe("AL");
    expect(initials("bob")).toBe("B");
    expect(initials("  Jean  Paul   Sartre ")).toBe("JS");
    expect(initials("😀 Smile")).toBe("😀S");
    expect(initials("   ")).toBe("?");
  });

  it("gives a new terminal the first free name, running or open", () => {
    expect(nextTerminalName([], [])).toBe("terminal-1");
    expect(nextTerminalName(["terminal-1", "build"], ["terminal-2"])).toBe("terminal-3");
    expect(nextTerminalName(["terminal-2"], [])).toBe("terminal-1");
  });
});

describe("ProjectSession", () => {
  it("passes on the lists, says what the user looks at, and says it again after a reconnect", () => {
    const { hub, connection } = connect();
    const seen: { people: Person[][]; terminals: TerminalInfo[][] } = { people: [], terminals: [] };
    const session = new ProjectSession(connection, "p1", {
      people: (people) => seen.people.push(people),
      terminals: (terminals) => seen.terminals.push(terminals),
    });
    expect(hub.latest.opens()[0]).toMatchObject({ project: "p1", service: "project" });
    session.focus({ what: "file", path: "a.py" });
    const channel = hub.latest.openLatest();
    const focuses = () => hub.latest.on(channel).filter((frame) => frame.kind === kind.FOCUS).map((frame) => parseBody(frame.body));
    expect(focuses()).toEqual([{ what: "file", path: "a.py" }]);
    session.focus({ what: "file", path: "a.py" });
    expect(focuses()).toHaveLength(1);

    const people = [person(1, "bob", "Bob", { what: "nothing" })];
    hub.latest.deliverJson(channel, kind.PEOPLE, { people });
    const terminal: TerminalInfo = { name: "t", instance: "x-1", started_ms: 5, opened_by: people[0]!.who, viewers: [] };
    hub.latest.deliverJson(channel, kind.TERMINALS, { terminals: [terminal] });
    expect(seen.people.at(-1)).toEqual(people);
    expect(seen.terminals.at(-1)).toEqual([terminal]);

    // The socket drops: who is here is unknown until the channel is back, and the focus is said again then.
    hub.latest.drop();
    expect(seen.people.at(-1)).toEqual([]);
    vi.advanceTimersByTime(60_000);
    hub.latest.welcome();
    const reopened = hub.latest.openLatest();
    expect(hub.latest.on(reopened).filter((frame) => frame.kind === kind.FOCUS).map((frame) => parseBody(frame.body))).toEqual([
      { what: "file", path: "a.py" },
    ]);
    session.close();
  });
});

describe("a terminal coming back", () => {
  function events(attached: Attached[]): TerminalEvents {
    return {
      attached: (value) => attached.push(value),
      output: (_data, done) => done(),
      snapshot: (_data, done) => done(),
      size: () => {},
      exited: () => {},
      state: () => {},
      failed: () => {},
    };
  }

  it("asks for the shell it saw last, and passes on why it was replaced", () => {
    const { hub, connection } = connect();
    const attached: Attached[] = [];
    new TerminalSession(connection, "p1", "t", { rows: 24, cols: 80 }, events(attached), "old-7");
    expect(hub.latest.opens()[0]).toMatchObject({ service: "terminal", name: "t", resume: "old-7" });
    const channel = hub.latest.openLatest();
    hub.latest.deliverJson(channel, kind.ATTACHED, { instance: "new-1", started_ms: 99, restarted: { why: "server_restarted" } });
    expect(attached).toEqual([{ instance: "new-1", started_ms: 99, restarted: { why: "server_restarted" } }]);

    // The project's server stops: the hub closes the channel, and the reopen asks for the shell seen last.
    hub.latest.deliverJson(kind.CONTROL, kind.CLOSE, { channel, reason: "the project's server stopped" });
    vi.advanceTimersByTime(60_000);
    expect(hub.latest.opens().at(-1)).toMatchObject({ service: "terminal", name: "t", resume: "new-1" });
  });

  it("starts a new shell without asking for the old one when the user restarts it", () => {
    const { hub, connection } = connect();
    const attached: Attached[] = [];
    const session = new TerminalSession(connection, "p1", "t", { rows: 24, cols: 80 }, events(attached));
    expect(hub.latest.opens()[0]).not.toHaveProperty("resume");
    const channel = hub.latest.openLatest();
    hub.latest.deliverJson(channel, kind.ATTACHED, { instance: "a-1", started_ms: 1 });
    hub.latest.deliverJson(channel, kind.EXITED, { code: 0 });
    session.restart();
    expect(hub.latest.opens().at(-1)).not.toHaveProperty("resume");
  });
});

describe("the project list", () => {
  it("hears PROJECTS_CHANGED, and is told to look again after every reconnect", () => {
    const { hub, connection } = connect();
    let told = 0;
    connection.onProjectsChanged(() => told++);
    hub.latest.deliver(kind.CONTROL, kind.PROJECTS_CHANGED);
    expect(told).toBe(1);
    hub.latest.drop();
    vi.advanceTimersByTime(60_000);
    hub.latest.welcome();
    expect(told).toBe(2);
  });
});

describe("the hub's probe", () => {
  it("asks to be probed once welcomed, and answers every PING at once, without a timer", () => {
    const { hub } = connect();
    expect(hub.latest.controls().filter((frame) => frame.kind === kind.PROBE)).toHaveLength(1);
    hub.latest.deliver(kind.CONTROL, kind.PING);
    hub.latest.deliver(kind.CONTROL, kind.PING);
    expect(hub.latest.controls().filter((frame) => frame.kind === kind.PONG)).toHaveLength(2);
  });
});
