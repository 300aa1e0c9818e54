/**
 * Who else is in the project, in the header: one avatar per person (initials in their colour, as their cursor has),
 * with the file or terminal they look at beside it; a click opens that file or joins that terminal. Live: it follows
 * the project channel's PEOPLE.
 */

import type { Focus, Person } from "../protocol/local-hub";
import { initials, presentPeople, type PresentPerson } from "../net/project";
import { h, replaceChildren } from "./dom";
import { safeColor } from "./remote-cursors";
import "./presence.css";

/** People shown with the name of what they look at; past this many, avatars alone keep the header short. */
const LABELLED = 4;

export interface PresenceBarOptions {
  /** The signed-in account, left out of the list. */
  self: string;
  open(focus: Focus): void;
}

export class PresenceBar {
  readonly element: HTMLElement;

  constructor(private readonly options: PresenceBarOptions) {
    this.element = h("div", { class: "presence", testid: "presence", attrs: { "aria-label": "Who else is in this project" } });
  }

  show(people: Person[]): void {
    const present = presentPeople(people, this.options.self);
    this.element.dataset.count = String(present.length);
    replaceChildren(
      this.element,
      present.map((person, index) => this.chip(person, index < LABELLED)),
    );
  }

  private chip(person: PresentPerson, labelled: boolean): HTMLElement {
    const looking = describe(person.focus);
    const color = safeColor(person.color);
    const focus = person.focus;
    return h(
      "button",
      {
        class: "person",
        testid: "person",
        data: {
          name: person.name,
          focusFile: focus.what === "file" ? focus.path : undefined,
          focusTerminal: focus.what === "terminal" ? focus.name : undefined,
        },
        title: `${person.name}${looking === undefined ? " is in this project" : ` is looking at ${looking}`}${person.tabs > 1 ? ` (${person.tabs} tabs)` : ""}`,
        disabled: focus.what === "nothing",
        onclick: () => this.options.open(focus),
      },
      h("span", { class: "avatar", text: initials(person.name), attrs: { style: `background-color: ${color}`, "aria-hidden": "true" } }),
      labelled && looking !== undefined ? h("span", { class: "person-focus", text: shortName(focus) }) : null,
    );
  }
}

/** "notes/todo.md", "terminal build", or undefined for nothing. */
function describe(focus: Focus): string | undefined {
  switch (focus.what) {
    case "file":
      return focus.path;
    case "terminal":
      return `the terminal ${focus.name}`;
    case "nothing":
      return undefined;
  }
}

function shortName(focus: Focus): string {
  if (focus.what === "file") return focus.path.split("/").pop() ?? focus.path;
  if (focus.what === "terminal") return focus.name;
  return "";
}
