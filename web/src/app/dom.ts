/** A small element builder: `h("button", { testid: "sign-out", onclick }, "Sign out")`. No framework, no virtual DOM. */

export type Child = Node | string | number | false | null | undefined | Child[];

export interface Props {
  class?: string;
  /** `data-testid`: the stable hooks end-to-end tests use. */
  testid?: string;
  /** `data-*` attributes. */
  data?: Record<string, string | number | boolean | undefined>;
  /** Any other attribute. */
  attrs?: Record<string, string | number | boolean | undefined>;
  text?: string;
  title?: string;
  type?: string;
  value?: string;
  placeholder?: string;
  disabled?: boolean;
  hidden?: boolean;
  onclick?: (event: MouseEvent) => void;
  oninput?: (event: Event) => void;
  onchange?: (event: Event) => void;
  onkeydown?: (event: KeyboardEvent) => void;
  onsubmit?: (event: SubmitEvent) => void;
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (props.class !== undefined) element.className = props.class;
  if (props.testid !== undefined) element.dataset.testid = props.testid;
  for (const [key, value] of Object.entries(props.data ?? {})) {
    if (value !== undefined) element.dataset[key] = String(value);
  }
  for (const [key, value] of Object.entries(props.attrs ?? {})) {
    if (value === undefined || value === false) continue;
    element.setAttribute(key, value === true ? "" : String(value));
  }
  if (props.text !== undefined) element.textContent = props.text;
  if (props.title !== undefined) element.title = props.title;
  if (props.type !== undefined) element.setAttribute("type", props.type);
  if (props.value !== undefined) (element as HTMLInputElement).value = props.value;
  if (props.placeholder !== undefined) element.setAttribute("placeholder", props.placeholder);
  if (props.disabled !== undefined) (element as HTMLButtonElement).disabled = props.disabled;
  if (props.hidden !== undefined) element.hidden = props.hidden;
  if (props.onclick !== undefined) element.addEventListener("click", props.onclick as EventListener);
  if (props.oninput !== undefined) element.addEventListener("input", props.oninput);
  if (props.onchange !== undefined) element.addEventListener("change", props.onchange);
  if (props.onkeydown !== undefined) element.addEventListener("keydown", props.onkeydown as EventListener);
  if (props.onsubmit !== undefined) element.addEventListener("submit", props.onsubmit as EventListener);
  append(element, children);
  return element;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
}

/** Replaces an element's children. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** "3 minutes ago", "yesterday at 14:05", for history and lists. */
export function relativeTime(ms: number, now = Date.now()): string {
  const seconds = Math.round((now - ms) / 1000);
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return minutes === 1 ? "a minute ago" : `${minutes} minutes ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return hours === 1 ? "an hour ago" : `${hours} hours ago`;
  const date = new Date(ms);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** Human file sizes. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}
