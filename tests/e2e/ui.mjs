// What every browser test does around its own steps, and what a user does in Orrery's pages: a `Session` owns one
// real `orrery up` (data directory, port, logs), the browser, the numbered steps, the watchdog and the cleanup; a `User`
// is one person in a browser context of their own, with the actions and expectations a person has (sign up, create a
// project, open a file, type, read the editor, the terminal, the disk).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { Failure, Orrery, Steps, freePort, seconds, show, waitUntil } from './harness.mjs';

/** How long one ordinary UI expectation (a page, a dialog, a row) may take to come true on a busy machine. */
export const UI_MS = 10_000;
/** The editor saves 300 ms after the last change; the file on disk gets a few seconds. */
export const DISK_MS = 5_000;

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

export class Session {
  /**
   * Parses the command line, makes the data directory and the output directory, and arms the watchdog and the signal
   * handlers. `name` names the test in its output; the whole run stays under `totalMs`.
   */
  static async create(name, { totalMs }) {
    const options = parseOptions(name, process.argv.slice(2));
    fs.mkdirSync(options.out, { recursive: true });
    // Real path: orrery canonicalizes it, and the project users' homes are matched against it.
    const dataDir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `orrery-e2e-${name}-`)));
    const orrery = new Orrery({ binary: options.orrery, dataDir, port: await freePort(), logDir: options.out });
    return new Session(name, options, dataDir, orrery, totalMs);
  }

  constructor(name, options, dataDir, orrery, totalMs) {
    this.name = name;
    this.options = options;
    this.dataDir = dataDir;
    this.orrery = orrery;
    /** A per-run token keeps every text and name the test types unmistakably its own. */
    this.token = Date.now().toString(36);
    /** Users by letter, as the steps create them. */
    this.users = {};
    this.browser = undefined;
    this.steps = new Steps({
      capture: (label) => this.screenshots(label),
      context: () => `${orrery.logTail(20)}\nscreenshots and logs: ${options.out}`,
    });
    process.on('exit', () => this.cleanUp());
    for (const signal of ['SIGINT', 'SIGTERM']) {
      process.on(signal, () => {
        console.log(`${name}: stopped by ${signal}; kept ${dataDir}; screenshots and logs are in ${options.out}`);
        process.exit(1);
      });
    }
    this.watchdog = setTimeout(() => {
      const current = this.steps.current;
      const during = current ? ` during step ${current.number} (${current.title})` : '';
      console.log(`${name}: FAILED: the whole test ran over its ${seconds(totalMs)}${during}`);
      console.log(orrery.logTail(20));
      console.log(`screenshots and logs: ${options.out}`);
      process.exit(1);
    }, totalMs);
    console.log(`${name}: orrery ${options.orrery}, data ${dataDir}, port ${orrery.port}`);
    console.log(`${name}: screenshots and logs go to ${options.out}`);
  }

  /** Step 0 of every test: `orrery up` starts and says where it runs, and Chromium launches. */
  async start() {
    await this.steps.run(0, 'orrery up starts and Chromium launches', async () => {
      if (!fs.existsSync(this.options.orrery)) {
        throw new Failure(
          `no orrery binary at ${this.options.orrery}; build it (cd web && npm run build; cargo build --release -p orrery-ops) or pass --orrery`,
        );
      }
      await this.orrery.start();
      try {
        // The test handles SIGINT and SIGTERM itself (kill orrery, report); Chromium goes with this process's pipe.
        this.browser = await chromium.launch({
          executablePath: this.options.chromium,
          handleSIGINT: false,
          handleSIGTERM: false,
          handleSIGHUP: false,
        });
      } catch (error) {
        throw new Failure(`Chromium at ${this.options.chromium} did not start: ${error.message.split('\n')[0]}`);
      }
    }, { timeoutMs: 40_000 });
  }

  /** Runs one numbered step (see harness.mjs `Steps.run`). */
  step(number, title, body, options) {
    return this.steps.run(number, title, body, options);
  }

  /** A person in a browser context of their own (own cookies), with a page logging its console to a file. */
  async user(who, { name, viewport = { width: 1280, height: 800 } } = {}) {
    const context = await this.browser.newContext({ viewport });
    const page = await context.newPage();
    const log = fs.createWriteStream(path.join(this.options.out, `browser-${who}.log`));
    const stamp = () => new Date().toISOString().slice(11, 23);
    page.on('console', (message) => log.write(`${stamp()} console.${message.type()}: ${message.text()}\n`));
    page.on('pageerror', (error) => log.write(`${stamp()} page error: ${error.stack ?? error}\n`));
    page.on('websocket', (socket) => {
      log.write(`${stamp()} websocket open ${socket.url()}\n`);
      socket.on('close', () => log.write(`${stamp()} websocket closed ${socket.url()}\n`));
    });
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) log.write(`${stamp()} at ${frame.url()}\n`);
    });
    const letter = who.toLowerCase();
    const user = new User(this, who, page, {
      name: name ?? `${who} E2E`,
      email: `${letter}-${this.token}@example.test`,
      password: `correct horse battery ${who}`,
    });
    this.users[who] = user;
    return user;
  }

  /** A project's directory on disk (where `orrery up` keeps it). */
  projectDir(projectId) {
    return path.join(this.dataDir, 'projects', projectId);
  }

  /** The bytes of a project's file, or undefined when there is no such file. */
  readFile(projectId, file) {
    try {
      return fs.readFileSync(path.join(this.projectDir(projectId), file));
    } catch (error) {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Waits until a project's file holds exactly `expected` (a string, compared as UTF-8 bytes, or a Buffer). */
  async expectFile(projectId, file, expected, what, timeoutMs = DISK_MS) {
    const bytes = Buffer.isBuffer(expected) ? expected : Buffer.from(expected, 'utf8');
    const where = path.join(this.projectDir(projectId), file);
    await waitUntil(
      `${where} to hold ${what} (${show(bytes.toString('utf8'))})`,
      async () => this.readFile(projectId, file),
      (seen) => seen !== undefined && seen.equals(bytes),
      { timeoutMs },
    ).catch((error) => {
      const seen = this.readFile(projectId, file);
      throw new Failure(`${error.message}; the file holds ${seen === undefined ? '(no such file)' : show(seen.toString('utf8'))}`);
    });
  }

  async screenshots(label) {
    for (const [who, user] of Object.entries(this.users)) {
      if (user.page.isClosed()) continue;
      await user.page.screenshot({ path: path.join(this.options.out, `${label}-${who}.png`), timeout: 5_000 });
    }
  }

  /** Reports every step, closes the browser, kills orrery and removes its users; exits 0 only if every step passed. */
  async finish() {
    const passed = this.steps.summary(this.name);
    clearTimeout(this.watchdog);
    await this.browser?.close().catch(() => {});
    this.cleanUp();
    if (passed) {
      fs.rmSync(this.dataDir, { recursive: true, force: true });
    } else {
      console.log(`${this.name}: kept orrery's data directory ${this.dataDir}`);
    }
    console.log(`${this.name}: screenshots and logs are in ${this.options.out}`);
    process.exit(passed ? 0 : 1);
  }

  /** Kills orrery and everything it started, then removes the projects' Unix users; runs again harmlessly on exit. */
  cleanUp() {
    this.orrery.stopAll();
    for (const problem of this.orrery.removeProjectUsers()) {
      console.log(`${this.name}: could not remove a project's Unix user: ${problem}`);
    }
  }
}

export class User {
  constructor(session, who, page, account) {
    this.session = session;
    this.who = who;
    this.page = page;
    this.account = account;
  }

  get name() {
    return this.account.name;
  }

  get email() {
    return this.account.email;
  }

  byTestId(id) {
    return this.page.locator(`[data-testid="${id}"]`);
  }

  async goto(route) {
    await this.page.goto(new URL(route, this.session.orrery.url).href);
  }

  async signUp() {
    await this.goto('/');
    await this.click(this.byTestId('show-signup'), 'switch to the sign-up form');
    await this.fill(this.byTestId('signup-name'), this.name, 'type their name');
    await this.fill(this.byTestId('signup-email'), this.email, 'type their e-mail address');
    await this.fill(this.byTestId('signup-password'), this.account.password, 'type their password');
    await this.click(this.byTestId('signup-submit'), 'submit the sign-up form');
    await this.visible(this.byTestId('account-name').filter({ hasText: this.name }), `their name "${this.name}" in the header`);
  }

  /** Creates a project from the project list and returns its id. */
  async createProject(title) {
    await this.fill(this.byTestId('new-project-title'), title, 'type the new project title');
    await this.click(this.byTestId('new-project-submit'), 'create the project');
    const row = this.byTestId('project-row').filter({ hasText: title });
    await this.visible(row, `the new project "${title}" in their list`);
    const id = await row.first().getAttribute('data-project-id');
    if (!id) throw new Failure(`${this.who}'s project row for "${title}" has no data-project-id`);
    return id;
  }

  projectRow(projectId) {
    return this.page.locator(`[data-testid="project-row"][data-project-id="${projectId}"]`);
  }

  /** Invites another user to a project from the project list's collaborators dialog. */
  async invite(projectId, other) {
    await this.click(this.projectRow(projectId).getByTestId('project-collaborators'), 'open the collaborators dialog');
    await this.fill(this.byTestId('invite-email'), other.email, `type ${other.who}'s e-mail address`);
    await this.click(this.byTestId('invite-submit'), `invite ${other.who}`);
    await this.visible(this.byTestId('collaborator-row').filter({ hasText: other.email }), `${other.who} as a collaborator`);
    await this.click(this.byTestId('collaborators-close'), 'close the collaborators dialog');
  }

  /** Opens a project from the project list unless its file tree is already on screen. */
  async openProject(projectId) {
    if (await this.byTestId('file-tree').isVisible()) return;
    await this.goto('#/');
    await this.click(this.projectRow(projectId).getByTestId('project-open'), 'open the project');
    await this.visible(this.byTestId('file-tree'), 'the file tree');
  }

  /** Creates a file with the file tree's "new file" dialog. */
  async createFile(file) {
    await this.click(this.byTestId('new-file'), 'ask for a new file');
    await this.fill(this.byTestId('dialog-input'), file, 'type the new file name');
    await this.click(this.byTestId('dialog-ok'), 'create the file');
  }

  fileEntry(file) {
    return this.page.locator(`[data-testid="file-entry"][data-path="${file}"]`);
  }

  editor(file) {
    return this.page.locator(`[data-testid="editor"][data-path="${file}"]`);
  }

  async openFile(file) {
    await this.click(this.fileEntry(file), `open ${file} from the file tree`);
    await this.visible(this.editor(file).locator('.cm-content'), `the editor of ${file}`);
  }

  /** Brings a file's editor to the front: its tab if it has one, else the file tree. */
  async showFile(projectId, file) {
    if (await this.editor(file).locator('.cm-content').isVisible()) return;
    await this.openProject(projectId);
    const tab = this.page.locator(`[data-testid="tab"][data-path="${file}"]`);
    if (await tab.count()) {
      await this.click(tab.first(), `switch to the tab of ${file}`);
      await this.visible(this.editor(file).locator('.cm-content'), `the editor of ${file}`);
    } else {
      await this.openFile(file);
    }
  }

  /** Puts the caret with the keyboard, as a person would, after focusing the editor. */
  async placeCursor(file, where) {
    await this.click(this.editor(file).locator('.cm-content'), 'focus the editor');
    const keys = {
      end: ['Control+End'],
      start: ['Control+Home'],
      'end of first line': ['Control+Home', 'End'],
      'end of second line': ['Control+Home', 'ArrowDown', 'End'],
    }[where];
    if (!keys) throw new Error(`no such place: ${where}`);
    for (const key of keys) await this.page.keyboard.press(key);
  }

  /** Types as a person does (keyboard.type sends "\n" as Enter). */
  async type(text, { delay = 10 } = {}) {
    await this.page.keyboard.type(text, { delay });
  }

  /** The editor's text as the user sees it: its lines, without collaborators' cursor labels, joined by "\n". */
  async editorText(file) {
    return this.editor(file).first().evaluate((element) =>
      [...element.querySelectorAll('.cm-line')]
        .map((line) => {
          const copy = line.cloneNode(true);
          for (const widget of copy.querySelectorAll('.remote-cursor, [contenteditable="false"]')) widget.remove();
          return copy.textContent;
        })
        .join('\n'),
    );
  }

  async expectEditor(file, expected, what, timeoutMs = UI_MS) {
    await waitUntil(`${this.who}'s editor of ${file} to show ${what} (${show(expected)})`, () => this.editorText(file), (text) => text === expected, {
      timeoutMs,
    });
  }

  /** The editor's sync badge: "saved" once everything typed is acknowledged. */
  async expectSaved(file, timeoutMs = UI_MS) {
    await waitUntil(
      `${this.who}'s editor of ${file} to say its changes are saved`,
      () => this.editor(file).getByTestId('sync-state').first().getAttribute('data-state'),
      (state) => state === 'saved',
      { timeoutMs, intervalMs: 50 },
    );
  }

  async expectConnection(wanted, timeoutMs, what) {
    const accept = typeof wanted === 'function' ? wanted : (value) => value === wanted;
    const indicator = this.byTestId('connection-state');
    await waitUntil(`${this.who}'s connection-state ${what ?? `to be "${wanted}"`}`, () => indicator.first().getAttribute('data-state'), accept, {
      timeoutMs,
      intervalMs: 100,
    });
  }

  async visible(locator, what, timeoutMs = UI_MS) {
    try {
      await locator.first().waitFor({ state: 'visible', timeout: timeoutMs });
    } catch {
      throw new Failure(`${this.who} does not see ${what} (${locator}) within ${seconds(timeoutMs)}${await this.pageSays()}`);
    }
  }

  async click(locator, what) {
    try {
      await locator.first().click({ timeout: UI_MS });
    } catch (error) {
      throw new Failure(`${this.who} could not ${what} (${locator}): ${error.message.split('\n')[0]}${await this.pageSays()}`);
    }
  }

  async fill(locator, text, what) {
    try {
      await locator.first().fill(text, { timeout: UI_MS });
    } catch (error) {
      throw new Failure(`${this.who} could not ${what} (${locator}): ${error.message.split('\n')[0]}${await this.pageSays()}`);
    }
  }

  /** Where the page is and any error it shows, to end a failure message with. */
  async pageSays() {
    let said = `; the page is at ${this.page.url()}`;
    try {
      const errors = await this.byTestId('error').allInnerTexts();
      if (errors.length) said += ` and shows the error ${show(errors.join(' | '))}`;
    } catch {
      // The page is gone; its address is all there is.
    }
    return said;
  }
}

function parseOptions(name, args) {
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(repo, 'target');
  const stamp = new Date().toISOString().replaceAll(':', '-').replace(/\..*/, '');
  const parsed = {
    orrery: process.env.ORRERY_BIN || path.join(targetDir, 'release', 'orrery'),
    chromium: process.env.CHROMIUM || '/usr/bin/chromium',
    out: path.join(process.env.E2E_OUT || path.join(here, 'out', stamp), name),
  };
  for (let index = 0; index < args.length; index += 2) {
    const [flag, value] = [args[index], args[index + 1]];
    const key = { '--orrery': 'orrery', '--chromium': 'chromium', '--out': 'out' }[flag];
    if (!key || value === undefined) {
      console.error(`usage: node tests/e2e/${name}.test.mjs [--orrery PATH] [--chromium PATH] [--out DIR]\n(got ${show(args)})`);
      process.exit(2);
    }
    parsed[key] = path.resolve(value);
  }
  return parsed;
}
