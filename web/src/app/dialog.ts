/**
 * In-page dialogs instead of `window.prompt` and `window.confirm` (which block the page, look foreign and cannot be
 * styled or driven by tests): an input dialog and a confirmation, both with `dialog-ok` and `dialog-cancel`.
 */

import { h } from "./dom";
import { describeError } from "./errors";
import { clearError } from "./toast";

export interface PromptOptions {
  title: string;
  label?: string;
  value?: string;
  okText?: string;
  placeholder?: string;
  /** Selects only this part of the value at first (e.g. a file name without its folder). */
  select?: [number, number];
  /** Runs on OK; throwing keeps the dialog open and shows the error in it. */
  submit?: (value: string) => Promise<void> | void;
}

/** Asks for a line of text; resolves with it, or `undefined` when cancelled. */
export function prompt(options: PromptOptions): Promise<string | undefined> {
  const input = h("input", { class: "input", testid: "dialog-input", type: "text", value: options.value ?? "", placeholder: options.placeholder });
  input.setAttribute("autocomplete", "off");
  input.setAttribute("spellcheck", "false");
  return show(options.title, options.okText ?? "OK", [options.label !== undefined ? h("label", { class: "dialog-label", text: options.label }) : null, input], {
    focus: () => {
      input.focus();
      const [start, end] = options.select ?? [0, input.value.length];
      input.setSelectionRange(start, end);
    },
    value: () => input.value.trim(),
    validate: (value) => (value === "" ? "Please enter a name." : undefined),
    submit: options.submit,
  });
}

/** Asks yes or no; resolves true on OK. */
export async function confirm(title: string, message: string, okText = "OK", danger = false): Promise<boolean> {
  const result = await show(title, okText, [h("p", { class: "dialog-message", text: message })], { value: () => "yes", danger });
  return result !== undefined;
}

interface ShowOptions {
  focus?: () => void;
  value: () => string;
  validate?: (value: string) => string | undefined;
  submit?: (value: string) => Promise<void> | void;
  danger?: boolean;
}

function show(title: string, okText: string, body: (HTMLElement | null)[], options: ShowOptions): Promise<string | undefined> {
  return new Promise((resolve) => {
    // An error in the dialog is the page's one error on screen: the toast's is cleared when it shows.
    const error = h("div", { class: "dialog-error", attrs: { role: "alert" }, hidden: true });
    const showProblem = (message: string) => {
      clearError();
      error.textContent = message;
      error.dataset.testid = "error";
      error.hidden = false;
    };
    const ok = h("button", { class: options.danger === true ? "button danger" : "button primary", testid: "dialog-ok", type: "submit", text: okText });
    const cancel = h("button", { class: "button", testid: "dialog-cancel", type: "button", text: "Cancel" });
    const form = h(
      "form",
      { class: "dialog", attrs: { role: "dialog", "aria-modal": "true", "aria-label": title } },
      h("h2", { class: "dialog-title", text: title }),
      ...body,
      error,
      h("div", { class: "dialog-buttons" }, cancel, ok),
    );
    const overlay = h("div", { class: "overlay" }, form);
    const previousFocus = document.activeElement as HTMLElement | null;
    const finish = (value: string | undefined) => {
      overlay.remove();
      document.removeEventListener("keydown", onKey, true);
      previousFocus?.focus?.();
      resolve(value);
    };
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") {
        event.preventDefault();
        finish(undefined);
      }
    };
    cancel.addEventListener("click", () => finish(undefined));
    overlay.addEventListener("mousedown", (event) => {
      if (event.target === overlay) finish(undefined);
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = options.value();
      const problem = options.validate?.(value);
      if (problem !== undefined) {
        showProblem(problem);
        return;
      }
      if (options.submit !== undefined) {
        ok.disabled = true;
        try {
          await options.submit(value);
        } catch (failure) {
          showProblem(describeError(failure));
          ok.disabled = false;
          return;
        }
      }
      finish(value);
    });
    document.addEventListener("keydown", onKey, true);
    document.body.appendChild(overlay);
    (options.focus ?? (() => ok.focus()))();
  });
}
