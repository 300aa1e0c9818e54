/**
 * Collaborators' cursors and selections in CodeMirror: a caret with the collaborator's name above it
 * (`.remote-cursor[data-name]`) and their selection tinted in their colour. The decorations move with every change
 * to the document until the next presence update replaces them.
 */

import { StateEffect, StateField, type Extension, type Range, type Text } from "@codemirror/state";
import { Decoration, EditorView, WidgetType, type DecorationSet } from "@codemirror/view";

/** A collaborator's cursor, in CodeMirror positions. */
export interface RemoteCursor {
  id: number;
  name: string;
  color: string;
  head: number;
  anchor: number;
}

export const setRemoteCursors = StateEffect.define<RemoteCursor[]>();

/** A colour the browser accepts, or a neutral one: the colour comes from the network and lands in a style attribute. */
export function safeColor(color: string): string {
  return /^#[0-9a-fA-F]{3,8}$/.test(color) || /^[a-z]{3,20}$/.test(color) ? color : "#6c71c4";
}

function tint(color: string): string {
  return /^#[0-9a-fA-F]{6}$/.test(color) ? `${color}33` : "rgba(108, 113, 196, 0.2)";
}

class CursorWidget extends WidgetType {
  constructor(
    readonly name: string,
    readonly color: string,
  ) {
    super();
  }

  override eq(other: CursorWidget): boolean {
    return other.name === this.name && other.color === this.color;
  }

  toDOM(): HTMLElement {
    const caret = document.createElement("span");
    caret.className = "remote-cursor";
    caret.dataset.name = this.name;
    caret.style.borderLeftColor = this.color;
    const label = document.createElement("span");
    label.className = "remote-cursor-label";
    label.textContent = this.name;
    label.style.backgroundColor = this.color;
    caret.appendChild(label);
    return caret;
  }

  override ignoreEvent(): boolean {
    return true;
  }
}

function build(cursors: RemoteCursor[], doc: Text): DecorationSet {
  const ranges: Range<Decoration>[] = [];
  for (const cursor of cursors) {
    const color = safeColor(cursor.color);
    const head = Math.min(Math.max(cursor.head, 0), doc.length);
    const anchor = Math.min(Math.max(cursor.anchor, 0), doc.length);
    const from = Math.min(head, anchor);
    const to = Math.max(head, anchor);
    if (from < to) {
      ranges.push(Decoration.mark({ class: "remote-selection", attributes: { style: `background-color: ${tint(color)}` } }).range(from, to));
    }
    ranges.push(Decoration.widget({ widget: new CursorWidget(cursor.name, color), side: 1 }).range(head));
  }
  return Decoration.set(ranges, true);
}

const field = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(decorations, transaction) {
    let next = decorations.map(transaction.changes);
    for (const effect of transaction.effects) {
      if (effect.is(setRemoteCursors)) next = build(effect.value, transaction.state.doc);
    }
    return next;
  },
  provide: (self) => EditorView.decorations.from(self),
});

export function remoteCursors(): Extension {
  return field;
}
