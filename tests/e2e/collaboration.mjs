#!/usr/bin/env node
// Orrery end to end in a real browser: headless Chromium (Debian's) driven by playwright-core, three users against one
// real `orrery up` on a temporary data directory and a port of its own. Each numbered step is one promise of the
// product, asserted as a user would check it; README.md beside this file lists them and how to run the test.
//
// usage: node tests/e2e/collaboration.mjs [--orrery PATH] [--chromium PATH] [--out DIR]
//   --orrery    the orrery binary (env ORRERY_BIN; default ${CARGO_TARGET_DIR:-<repo>/target}/release/orrery)
//   --chromium  the browser (env CHROMIUM; default /usr/bin/chromium)
//   --out       where screenshots and logs go (env E2E_OUT; default tests/e2e/out/<timestamp>/)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { Failure, Orrery, Steps, freePort, seconds, show, waitUntil } from './harness.mjs';
import { checkOpened, checkRefusals, rawOpen } from './wire.mjs';

/** The whole run, browser start to cleanup, stays under three minutes whatever happens. */
const TOTAL_MS = 175_000;
/** How long one ordinary UI expectation (a page, a dialog, a row) may take to come true. */
const UI_MS = 10_000;
/** The issue's promise: concurrent typing converges in both editors within a second. */
const CONVERGE_MS = 1_000;
/** The editor saves 300 ms after the last change; the file on disk gets a few seconds. */
const DISK_MS = 5_000;
const FILE = 'notes.txt';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const options = parseOptions(process.argv.slice(2));
// A per-run token keeps every text the test types unmistakably its own.
const token = Date.now().toString(36);
const users = {
  A: { name: 'Ada E2E', email: `ada-${token}@example.test`, password: 'correct horse battery A' },
  B: { name: 'Bob E2E', email: `bob-${token}@example.test`, password: 'correct horse battery B' },
  C: { name: 'Cyd E2E', email: `cyd-${token}@example.test`, password: 'correct horse battery C' },
};

fs.mkdirSync(options.out, { recursive: true });
// Real path: orrery canonicalizes it, and the project users' homes are matched against it.
const dataDir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'orrery-e2e-')));
const orrery = new Orrery({ binary: options.orrery, dataDir, port: await freePort(), logDir: options.out });
/** Browser pages by user letter, as the steps create them. */
const pages = {};
/** What the steps learn and later steps use. */
const state = { projectId: undefined, terminal: undefined };
let browser;

process.on('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    console.log(`e2e: stopped by ${signal}; kept ${dataDir}; screenshots and logs are in ${options.out}`);
    process.exit(1);
  });
}
const steps = new Steps({
  capture: screenshots,
  context: () => `${orrery.logTail(20)}\nscreenshots and logs: ${options.out}`,
});
const watchdog = setTimeout(() => {
  const during = steps.current ? ` during step ${steps.current.number} (${steps.current.title})` : '';
  console.log(`e2e: FAILED: the whole test ran over its ${seconds(TOTAL_MS)}${during}`);
  console.log(orrery.logTail(20));
  console.log(`screenshots and logs: ${options.out}`);
  process.exit(1);
}, TOTAL_MS);

console.log(`e2e: orrery ${options.orrery}, data ${dataDir}, port ${orrery.port}`);
console.log(`e2e: screenshots and logs go to ${options.out}`);

await steps.run(0, 'orrery up starts and Chromium launches', async () => {
  if (!fs.existsSync(options.orrery)) {
    throw new Failure(
      `no orrery binary at ${options.orrery}; build it (cd web && npm run build; cargo build --release -p orrery-ops) or pass --orrery`,
    );
  }
  await orrery.start();
  try {
    // The test handles SIGINT and SIGTERM itself (kill orrery, report); Chromium goes with this process's pipe.
    browser = await chromium.launch({ executablePath: options.chromium, handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false });
  } catch (error) {
    throw new Failure(`Chromium at ${options.chromium} did not start: ${error.message.split('\n')[0]}`);
  }
}, { timeoutMs: 40_000 });

await steps.run(1, 'two users sign up; A creates a project and invites B; B sees it', async () => {
  pages.A = await openPage('A');
  pages.B = await openPage('B');
  await Promise.all([signUp('A'), signUp('B')]);

  const { A, B } = pages;
  const title = `E2E project ${token}`;
  await fill('A', byTestId(A, 'new-project-title'), title, 'type the new project title');
  await click('A', byTestId(A, 'new-project-submit'), 'create the project');
  const row = byTestId(A, 'project-row').filter({ hasText: title });
  await visible('A', row, `the new project "${title}" in their list`);
  state.projectId = await row.first().getAttribute('data-project-id');
  if (!state.projectId) throw new Failure(`A's project row for "${title}" has no data-project-id`);
  console.log(`  project id ${state.projectId}`);

  await click('A', row.getByTestId('project-collaborators'), 'open the collaborators dialog');
  await fill('A', byTestId(A, 'invite-email'), users.B.email, "type B's e-mail address");
  await click('A', byTestId(A, 'invite-submit'), 'invite B');
  await visible('A', byTestId(A, 'collaborator-row').filter({ hasText: users.B.email }), 'B as a collaborator');
  await click('A', byTestId(A, 'collaborators-close'), 'close the collaborators dialog');

  // B's list was loaded before the invitation; B reloads it, as a person told "I shared it with you" would.
  await B.reload();
  await visible('B', projectRow(B), 'the project A shared in their project list');
}, { timeoutMs: 40_000, needs: [0] });

await steps.run(2, 'A and B type in the same file at once; both editors and the disk agree; cursors', async () => {
  const { A, B } = pages;
  await click('A', projectRow(A).getByTestId('project-open'), 'open the project');
  await visible('A', byTestId(A, 'file-tree'), 'the file tree');
  await click('A', byTestId(A, 'new-file'), 'ask for a new file');
  await fill('A', byTestId(A, 'dialog-input'), FILE, 'type the new file name');
  await click('A', byTestId(A, 'dialog-ok'), 'create the file');
  await openFileFromTree('A');
  await typeInEditor('A', { at: 'end', text: 'A says:\nB says:' });
  const base = 'A says:\nB says:';
  await expectDisk(base, 'the text A typed first');

  await click('B', projectRow(B).getByTestId('project-open'), 'open the project');
  await openFileFromTree('B');
  await expectEditor('B', base, UI_MS, 'the text A typed before B opened the file');

  // A writes at the end of the first line and B at the end of the second, at the same time, key by key.
  const fromA = ` alpha ${token} one two three`;
  const fromB = ` bravo ${token} four five six`;
  await Promise.all([placeCursor('A', 'end of first line'), placeCursor('B', 'end')]);
  await Promise.all([A.keyboard.type(fromA, { delay: 25 }), B.keyboard.type(fromB, { delay: 25 })]);
  const expected = `A says:${fromA}\nB says:${fromB}`;
  const converged = await waitUntil(
    'both editors to show the same text',
    async () => [await editorText(A), await editorText(B)],
    ([a, b]) => a === b,
    { timeoutMs: CONVERGE_MS, intervalMs: 20 },
  ).catch((error) => {
    throw new Failure(`the editors did not converge within ${seconds(CONVERGE_MS)} of the last keystroke: ${error.message}`);
  });
  console.log(`  both editors identical ${converged.elapsedMs} ms after the last keystroke`);
  if (converged.value[0] !== expected) {
    throw new Failure(`both editors show ${show(converged.value[0])}, but what A and B typed is ${show(expected)}`);
  }
  await expectDisk(expected, 'the text both typed');

  await visible('A', editor(A).locator(`.remote-cursor[data-name="${users.B.name}"]`), `B's cursor (${users.B.name})`);
  await visible('B', editor(B).locator(`.remote-cursor[data-name="${users.A.name}"]`), `A's cursor (${users.A.name})`);
}, { timeoutMs: 30_000, needs: [1] });

await steps.run(3, "A and B share a terminal; B sees what A's command printed", async () => {
  const { A, B } = pages;
  await openProject('A');
  await click('A', byTestId(A, 'new-terminal'), 'open a new terminal');
  const terminal = byTestId(A, 'terminal');
  // The app may ask for the terminal's name; whichever comes first, the dialog or the terminal, is answered.
  await visible('A', terminal.or(byTestId(A, 'dialog-input')), 'a terminal or a dialog asking its name');
  if (await byTestId(A, 'dialog-input').isVisible()) {
    await fill('A', byTestId(A, 'dialog-input'), `e2e-${token}`, 'name the terminal');
    await click('A', byTestId(A, 'dialog-ok'), 'confirm the terminal name');
  }
  await visible('A', terminal, 'the terminal');
  state.terminal = await terminal.first().getAttribute('data-terminal');
  if (!state.terminal) throw new Failure("A's terminal has no data-terminal name");
  console.log(`  terminal "${state.terminal}"`);

  // The command's output differs from its echo, so seeing it proves the shell ran it.
  const printed = `hello-${6 * 7}-${token}`;
  await click('A', terminal.first(), 'focus the terminal');
  await A.keyboard.type(`echo hello-$((6*7))-${token}`);
  await A.keyboard.press('Enter');
  await expectTerminal('A', printed, 'the output of their own command');

  await openSharedTerminal('B', state.terminal);
  await expectTerminal('B', printed, "the output of A's command");
}, { timeoutMs: 25_000, needs: [1] });

await steps.run(4, 'A reloads the page right after typing and loses nothing', async () => {
  const { A, B } = pages;
  await Promise.all([showFile('A'), showFile('B')]);
  const base = await editorText(A);
  await expectEditor('B', base, UI_MS, 'the same text as A before A types');
  await expectDisk(base, 'the text before A types');

  const typed = ` reload-safe-${token}`;
  await placeCursor('A', 'end');
  await A.keyboard.type(typed);
  // Reloading before the editor's 300 ms save is the point; a file that has the text already proves nothing.
  const onDisk = readDisk();
  await A.reload();
  if (onDisk?.includes(typed)) {
    throw new Failure('the file was saved before the reload began, so this run could not test a reload before the save');
  }
  const expected = base + typed;
  await expectEditor('A', expected, UI_MS, 'everything typed before the reload, after the reload');
  await expectEditor('B', expected, UI_MS, 'everything A typed before reloading');
  await expectDisk(expected, 'everything A typed before reloading');
}, { timeoutMs: 25_000, needs: [1] });

await steps.run(5, 'orrery is killed (SIGKILL) and restarted; both browsers reconnect and go on', async () => {
  const { A, B } = pages;
  await Promise.all([showFile('A'), showFile('B')]);
  await Promise.all([expectConnection('A', 'connected', UI_MS), expectConnection('B', 'connected', UI_MS)]);

  await orrery.kill();
  await Promise.all([
    expectConnection('A', (value) => value !== 'connected', UI_MS, 'to leave "connected" after the kill'),
    expectConnection('B', (value) => value !== 'connected', UI_MS, 'to leave "connected" after the kill'),
  ]);
  await screenshots('step-5-while-down');

  await orrery.start();
  await Promise.all([expectConnection('A', 'connected', 30_000), expectConnection('B', 'connected', 30_000)]);

  const base = await editorText(A);
  const fromA = ` after-restart-A-${token}`;
  await placeCursor('A', 'end');
  await A.keyboard.type(fromA);
  await expectEditor('B', base + fromA, UI_MS, 'what A typed after the restart');
  const fromB = ` after-restart-B-${token}`;
  await placeCursor('B', 'end');
  await B.keyboard.type(fromB);
  await expectEditor('A', base + fromA + fromB, UI_MS, 'what B typed after the restart');
  await expectDisk(base + fromA + fromB, 'what both typed after the restart');
}, { timeoutMs: 50_000, needs: [1] });

await steps.run(6, 'C, not a collaborator, can open neither the project nor its channels', async () => {
  pages.C = await openPage('C');
  await signUp('C');
  const C = pages.C;

  // C's own project shows that C's list has loaded; only then does the absence of A's project mean something.
  const own = `C's project ${token}`;
  await fill('C', byTestId(C, 'new-project-title'), own, 'type a project title');
  await click('C', byTestId(C, 'new-project-submit'), 'create a project');
  await visible('C', byTestId(C, 'project-row').filter({ hasText: own }), 'their own project');
  const listed = await projectRow(C).count();
  if (listed) throw new Failure(`C's project list shows A's project ${state.projectId}`);

  for (const route of [`#/p/${state.projectId}`, `#/p/${state.projectId}/f/${FILE}`]) {
    await C.goto(new URL(route, orrery.url).href);
    await visible('C', byTestId(C, 'error'), `an error at ${route}`);
    const opened = await editor(C).count() + await byTestId(C, 'file-tree').count();
    if (opened) throw new Failure(`C sees A's project (its file tree or editor) at ${route}, beside the error`);
  }

  const channels = {
    1: { service: 'files' },
    2: { service: 'document', path: FILE, client: 1 },
    3: { service: 'terminal', name: state.terminal ?? 'e2e', size: { rows: 24, cols: 80 } },
  };
  const numbers = Object.keys(channels).map(Number);
  checkRefusals(await C.evaluate(rawOpen, { project: state.projectId, channels }), numbers, users.C.email);
  checkOpened(await pages.A.evaluate(rawOpen, { project: state.projectId, channels }), numbers);
}, { timeoutMs: 25_000, needs: [1] });

const passed = steps.summary();
clearTimeout(watchdog);
await browser?.close().catch(() => {});
cleanUp();
if (passed) {
  fs.rmSync(dataDir, { recursive: true, force: true });
} else {
  console.log(`e2e: kept orrery's data directory ${dataDir}`);
}
console.log(`e2e: screenshots and logs are in ${options.out}`);
process.exit(passed ? 0 : 1);

/** Kills orrery and everything it started, then removes the projects' Unix users; runs again harmlessly on exit. */
function cleanUp() {
  orrery.stopAll();
  for (const problem of orrery.removeProjectUsers()) console.log(`e2e: could not remove a project's Unix user: ${problem}`);
}

// ---- The users' actions and expectations -----------------------------------------------------------------------------

/** A fresh browser context (its own cookies) and page for one user, logging its console to a file. */
async function openPage(who) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const log = fs.createWriteStream(path.join(options.out, `browser-${who}.log`));
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
  return page;
}

async function signUp(who) {
  const page = pages[who];
  const user = users[who];
  await page.goto(orrery.url);
  await click(who, byTestId(page, 'show-signup'), 'switch to the sign-up form');
  await fill(who, byTestId(page, 'signup-name'), user.name, 'type their name');
  await fill(who, byTestId(page, 'signup-email'), user.email, 'type their e-mail address');
  await fill(who, byTestId(page, 'signup-password'), user.password, 'type their password');
  await click(who, byTestId(page, 'signup-submit'), 'submit the sign-up form');
  await visible(who, byTestId(page, 'account-name').filter({ hasText: user.name }), `their name "${user.name}" in the header`);
}

function byTestId(page, id) {
  return page.locator(`[data-testid="${id}"]`);
}

function projectRow(page) {
  return page.locator(`[data-testid="project-row"][data-project-id="${state.projectId}"]`);
}

function editor(page, file = FILE) {
  return page.locator(`[data-testid="editor"][data-path="${file}"]`);
}

/** Opens the shared project from the user's project list unless the project is already on screen. */
async function openProject(who) {
  const page = pages[who];
  if (await byTestId(page, 'file-tree').isVisible()) return;
  await page.goto(new URL('#/', orrery.url).href);
  await click(who, projectRow(page).getByTestId('project-open'), 'open the project');
  await visible(who, byTestId(page, 'file-tree'), 'the file tree');
}

async function openFileFromTree(who) {
  const page = pages[who];
  await click(who, page.locator(`[data-testid="file-entry"][data-path="${FILE}"]`), `open ${FILE} from the file tree`);
  await visible(who, editor(page).locator('.cm-content'), `the editor of ${FILE}`);
}

/** Brings the editor of the test's file to the front: its tab if it has one, else the file tree. */
async function showFile(who) {
  const page = pages[who];
  if (await editor(page).locator('.cm-content').isVisible()) return;
  await openProject(who);
  const tab = page.locator(`[data-testid="tab"][data-path="${FILE}"]`);
  if (await tab.count()) {
    await click(who, tab.first(), `switch to the tab of ${FILE}`);
    await visible(who, editor(page).locator('.cm-content'), `the editor of ${FILE}`);
  } else {
    await openFileFromTree(who);
  }
}

/** Opens the terminal another user opened, by its name: its tab if the page lists it, else a new one of that name. */
async function openSharedTerminal(who, name) {
  const page = pages[who];
  await openProject(who);
  const tab = page.locator(`[data-testid="tab"][data-terminal="${name}"]`);
  if (await tab.count()) {
    await click(who, tab.first(), `switch to the tab of terminal "${name}"`);
  } else {
    await click(who, byTestId(page, 'new-terminal'), 'open a terminal');
    await fill(who, byTestId(page, 'dialog-input'), name, `name the terminal "${name}"`);
    await click(who, byTestId(page, 'dialog-ok'), 'confirm the terminal name');
  }
  await visible(who, page.locator(`[data-testid="terminal"][data-terminal="${name}"]`), `terminal "${name}"`);
}

/** Puts the caret with the keyboard, as a person would, after focusing the editor. */
async function placeCursor(who, where) {
  const page = pages[who];
  await click(who, editor(page).locator('.cm-content'), 'focus the editor');
  if (where === 'end') {
    await page.keyboard.press('Control+End');
  } else if (where === 'end of first line') {
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('End');
  } else {
    throw new Error(`no such place: ${where}`);
  }
}

async function typeInEditor(who, { at, text }) {
  await placeCursor(who, at);
  // keyboard.type sends "\n" as Enter, so lines are made as a person makes them.
  await pages[who].keyboard.type(text, { delay: 10 });
}

/** The editor's text as the user sees it: its lines, without the collaborators' cursor labels, joined by "\n". */
async function editorText(page) {
  return editor(page).first().evaluate((element) =>
    [...element.querySelectorAll('.cm-line')]
      .map((line) => {
        const copy = line.cloneNode(true);
        for (const widget of copy.querySelectorAll('.remote-cursor, [contenteditable="false"]')) widget.remove();
        return copy.textContent;
      })
      .join('\n'),
  );
}

async function expectEditor(who, expected, timeoutMs, what) {
  await waitUntil(`${who}'s editor to show ${what} (${show(expected)})`, () => editorText(pages[who]), (text) => text === expected, {
    timeoutMs,
  });
}

function readDisk() {
  try {
    return fs.readFileSync(path.join(dataDir, 'projects', state.projectId, FILE), 'utf8');
  } catch (error) {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  }
}

async function expectDisk(expected, what) {
  const file = path.join(dataDir, 'projects', state.projectId, FILE);
  await waitUntil(`${file} to hold ${what} (${show(expected)})`, async () => readDisk() ?? '(no such file)', (text) => text === expected, {
    timeoutMs: DISK_MS,
  });
}

async function expectTerminal(who, text, what) {
  const page = pages[who];
  const rows = page.locator(`[data-testid="terminal"][data-terminal="${state.terminal}"] .xterm-rows`);
  await waitUntil(
    `${who}'s terminal to show ${what} (${show(text)})`,
    async () => (await rows.first().innerText()).replaceAll('\u00a0', ' '),
    (screen) => screen.split('\n').some((line) => line.trim() === text),
    { timeoutMs: UI_MS },
  );
}

async function expectConnection(who, wanted, timeoutMs, what) {
  const accept = typeof wanted === 'function' ? wanted : (value) => value === wanted;
  const indicator = byTestId(pages[who], 'connection-state');
  await waitUntil(`${who}'s connection-state ${what ?? `to be "${wanted}"`}`, () => indicator.first().getAttribute('data-state'), accept, {
    timeoutMs,
    intervalMs: 100,
  });
}

async function visible(who, locator, what, timeoutMs = UI_MS) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout: timeoutMs });
  } catch {
    throw new Failure(`${who} does not see ${what} (${locator}) within ${seconds(timeoutMs)}${await pageSays(locator.page())}`);
  }
}

async function click(who, locator, what) {
  try {
    await locator.first().click({ timeout: UI_MS });
  } catch (error) {
    throw new Failure(`${who} could not ${what} (${locator}): ${error.message.split('\n')[0]}${await pageSays(locator.page())}`);
  }
}

async function fill(who, locator, text, what) {
  try {
    await locator.first().fill(text, { timeout: UI_MS });
  } catch (error) {
    throw new Failure(`${who} could not ${what} (${locator}): ${error.message.split('\n')[0]}${await pageSays(locator.page())}`);
  }
}

/** Where the page is and any error it shows, to end a failure message with. */
async function pageSays(page) {
  let said = `; the page is at ${page.url()}`;
  try {
    const errors = await byTestId(page, 'error').allInnerTexts();
    if (errors.length) said += ` and shows the error ${show(errors.join(' | '))}`;
  } catch {
    // The page is gone; its address is all there is.
  }
  return said;
}

async function screenshots(label) {
  for (const [who, page] of Object.entries(pages)) {
    if (page.isClosed()) continue;
    await page.screenshot({ path: path.join(options.out, `${label}-${who}.png`), timeout: 5_000 });
  }
}

// ---- Options -----------------------------------------------------------------------------------------------------------

function parseOptions(args) {
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(repo, 'target');
  const parsed = {
    orrery: process.env.ORRERY_BIN || path.join(targetDir, 'release', 'orrery'),
    chromium: process.env.CHROMIUM || '/usr/bin/chromium',
    out: process.env.E2E_OUT || path.join(here, 'out', new Date().toISOString().replaceAll(':', '-').replace(/\..*/, '')),
  };
  for (let index = 0; index < args.length; index += 2) {
    const [flag, value] = [args[index], args[index + 1]];
    const key = { '--orrery': 'orrery', '--chromium': 'chromium', '--out': 'out' }[flag];
    if (!key || value === undefined) {
      console.error(`usage: node tests/e2e/collaboration.mjs [--orrery PATH] [--chromium PATH] [--out DIR]\n(got ${show(args)})`);
      process.exit(2);
    }
    parsed[key] = path.resolve(value);
  }
  return parsed;
}
