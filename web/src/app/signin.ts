/** Sign in and sign up: one card, two forms, a link between them. */

import type { Account, Api } from "../net/api";
import { h } from "./dom";
import { describeError } from "./errors";
import { clearError, showError } from "./toast";

export class SignInPage {
  readonly element: HTMLElement;

  constructor(
    private readonly api: Api,
    private readonly signedIn: (account: Account) => void,
    mode: "signin" | "signup" = "signin",
  ) {
    this.element = h("main", { class: "auth-page" });
    this.show(mode);
  }

  destroy(): void {
    this.element.remove();
  }

  private show(mode: "signin" | "signup"): void {
    this.element.replaceChildren(
      h(
        "div",
        { class: "auth-card" },
        h("div", { class: "auth-brand" }, h("span", { class: "brand-mark large", attrs: { "aria-hidden": "true" } }), h("h1", { text: "Orrery" })),
        h("p", { class: "auth-tagline", text: "Write code, run it, and work on it together, all in your browser." }),
        mode === "signin" ? this.signInForm() : this.signUpForm(),
      ),
    );
    this.element.querySelector<HTMLInputElement>("input")?.focus();
  }

  private field(label: string, input: HTMLInputElement, hint?: string): HTMLElement {
    return h("label", { class: "field" }, h("span", { class: "field-label", text: label }), input, hint !== undefined ? h("span", { class: "field-hint", text: hint }) : null);
  }

  private signInForm(): HTMLElement {
    const email = h("input", { class: "input", testid: "signin-email", type: "email", attrs: { autocomplete: "email", required: true } });
    const password = h("input", { class: "input", testid: "signin-password", type: "password", attrs: { autocomplete: "current-password", required: true } });
    const submit = h("button", { class: "button primary wide", testid: "signin-submit", type: "submit", text: "Sign in" });
    return h(
      "form",
      {
        class: "auth-form",
        attrs: { novalidate: true },
        onsubmit: (event) => {
          event.preventDefault();
          if (email.value.trim() === "" || password.value === "") {
            showError("Please enter your e-mail address and your password.");
            return;
          }
          void this.run(submit, "Signing in…", () => this.api.signIn(email.value.trim(), password.value));
        },
      },
      h("h2", { text: "Sign in" }),
      this.field("E-mail address", email),
      this.field("Password", password),
      submit,
      h("p", { class: "auth-switch" }, "New here? ", h("a", { testid: "show-signup", attrs: { href: "#" }, text: "Create an account", onclick: (event) => this.switchTo(event, "signup") })),
    );
  }

  private signUpForm(): HTMLElement {
    const name = h("input", { class: "input", testid: "signup-name", type: "text", attrs: { autocomplete: "name", required: true } });
    const email = h("input", { class: "input", testid: "signup-email", type: "email", attrs: { autocomplete: "email", required: true } });
    const password = h("input", { class: "input", testid: "signup-password", type: "password", attrs: { autocomplete: "new-password", required: true, minlength: 8 } });
    const submit = h("button", { class: "button primary wide", testid: "signup-submit", type: "submit", text: "Create account" });
    return h(
      "form",
      {
        class: "auth-form",
        attrs: { novalidate: true },
        onsubmit: (event) => {
          event.preventDefault();
          if (name.value.trim() === "") {
            showError("Please enter your name: collaborators see it beside your cursor.");
            return;
          }
          if (email.value.trim() === "") {
            showError("Please enter your e-mail address.");
            return;
          }
          void this.run(submit, "Creating your account…", () => this.api.signUp(email.value.trim(), password.value, name.value.trim()));
        },
      },
      h("h2", { text: "Create an account" }),
      this.field("Your name", name, "Shown to collaborators beside your cursor."),
      this.field("E-mail address", email),
      this.field("Password", password, "At least 8 characters."),
      submit,
      h("p", { class: "auth-switch" }, "Already have an account? ", h("a", { testid: "show-signin", attrs: { href: "#" }, text: "Sign in", onclick: (event) => this.switchTo(event, "signin") })),
    );
  }

  private switchTo(event: MouseEvent, mode: "signin" | "signup"): void {
    event.preventDefault();
    clearError();
    this.show(mode);
  }

  private async run(button: HTMLButtonElement, busyText: string, action: () => Promise<Account>): Promise<void> {
    const text = button.textContent;
    button.disabled = true;
    button.textContent = busyText;
    try {
      const account = await action();
      clearError();
      this.signedIn(account);
    } catch (error) {
      showError(describeError(error));
      button.disabled = false;
      button.textContent = text;
    }
  }
}
