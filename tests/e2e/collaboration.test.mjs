#!/usr/bin/env node
// Orrery end to end in a real browser: three users against one real `orrery up` co-edit a file, share a terminal,
// reload, survive a crash of the server, and an outsider is kept out. Each numbered step is one promise of the product,
// asserted as a user would check it; README.md beside this file lists them and how to run the test.
//
// usage: node tests/e2e/collaboration.test.mjs [--orrery PATH] [--chromium PATH] [--out DIR]

import { Failure, seconds, show, waitUntil } from './harness.mjs';
import { Session, UI_MS } from './ui.mjs';
import { checkOpened, checkRefusals, rawOpen } from './wire.mjs';

/** The promise: concurrent typing converges in both editors within a second. */
const CONVERGE_MS = 1_000;
const FILE = 'notes.txt';

const session = await Session.create('collaboration', { totalMs: 175_000 });
const { token } = session;
/** What the steps learn and later steps use. */
const state = { projectId: undefined, terminal: undefined };
let A;
let B;

await session.start();

await session.step(1, 'two users sign up; A creates a project and invites B; B sees it', async () => {
  A = await session.user('A', { name: 'Ada E2E' });
  B = await session.user('B', { name: 'Bob E2E' });
  await Promise.all([A.signUp(), B.signUp()]);
  state.projectId = await A.createProject(`E2E project ${token}`);
  console.log(`  project id ${state.projectId}`);
  await A.invite(state.projectId, B);
  // B's list was loaded before the invitation; B reloads it, as a person told "I shared it with you" would.
  await B.page.reload();
  await B.visible(B.projectRow(state.projectId), 'the project A shared in their project list');
}, { timeoutMs: 40_000, needs: [0] });

await session.step(2, 'A and B type in the same file at once; both editors and the disk agree; cursors', async () => {
  await A.click(A.projectRow(state.projectId).getByTestId('project-open'), 'open the project');
  await A.visible(A.byTestId('file-tree'), 'the file tree');
  await A.createFile(FILE);
  await A.showFile(state.projectId, FILE);
  await A.placeCursor(FILE, 'end');
  await A.type('A says:\nB says:');
  const base = 'A says:\nB says:';
  await session.expectFile(state.projectId, FILE, base, 'the text A typed first');

  await B.click(B.projectRow(state.projectId).getByTestId('project-open'), 'open the project');
  await B.openFile(FILE);
  await B.expectEditor(FILE, base, 'the text A typed before B opened the file');

  // A writes at the end of the first line and B at the end of the second, at the same time, key by key.
  const fromA = ` alpha ${token} one two three`;
  const fromB = ` bravo ${token} four five six`;
  await Promise.all([A.placeCursor(FILE, 'end of first line'), B.placeCursor(FILE, 'end')]);
  await Promise.all([A.type(fromA, { delay: 25 }), B.type(fromB, { delay: 25 })]);
  const expected = `A says:${fromA}\nB says:${fromB}`;
  const converged = await waitUntil(
    'both editors to show the same text',
    async () => [await A.editorText(FILE), await B.editorText(FILE)],
    ([a, b]) => a === b,
    { timeoutMs: CONVERGE_MS, intervalMs: 20 },
  ).catch((error) => {
    throw new Failure(`the editors did not converge within ${seconds(CONVERGE_MS)} of the last keystroke: ${error.message}`);
  });
  console.log(`  both editors identical ${converged.elapsedMs} ms after the last keystroke`);
  if (converged.value[0] !== expected) {
    throw new Failure(`both editors show ${show(converged.value[0])}, but what A and B typed is ${show(expected)}`);
  }
  await session.expectFile(state.projectId, FILE, expected, 'the text both typed');

  await A.visible(A.editor(FILE).locator(`.remote-cursor[data-name="${B.name}"]`), `B's cursor (${B.name})`);
  await B.visible(B.editor(FILE).locator(`.remote-cursor[data-name="${A.name}"]`), `A's cursor (${A.name})`);
}, { timeoutMs: 30_000, needs: [1] });

await session.step(3, "A and B share a terminal; B sees what A's command printed", async () => {
  await A.openProject(state.projectId);
  await A.click(A.byTestId('new-terminal'), 'open a new terminal');
  const terminal = A.byTestId('terminal');
  // The app may ask for the terminal's name; whichever comes first, the dialog or the terminal, is answered.
  await A.visible(terminal.or(A.byTestId('dialog-input')), 'a terminal or a dialog asking its name');
  if (await A.byTestId('dialog-input').isVisible()) {
    await A.fill(A.byTestId('dialog-input'), `e2e-${token}`, 'name the terminal');
    await A.click(A.byTestId('dialog-ok'), 'confirm the terminal name');
  }
  await A.visible(terminal, 'the terminal');
  state.terminal = await terminal.first().getAttribute('data-terminal');
  if (!state.terminal) throw new Failure("A's terminal has no data-terminal name");
  console.log(`  terminal "${state.terminal}"`);

  // The command's output differs from its echo, so seeing it proves the shell ran it.
  const printed = `hello-${6 * 7}-${token}`;
  await A.click(terminal.first(), 'focus the terminal');
  await A.type(`echo hello-$((6*7))-${token}`, { delay: 0 });
  await A.page.keyboard.press('Enter');
  await expectTerminal(A, printed, 'the output of their own command');

  await openSharedTerminal(B, state.terminal);
  await expectTerminal(B, printed, "the output of A's command");
}, { timeoutMs: 25_000, needs: [1] });

await session.step(4, 'A reloads the page right after typing and loses nothing', async () => {
  await Promise.all([A.showFile(state.projectId, FILE), B.showFile(state.projectId, FILE)]);
  const base = await A.editorText(FILE);
  await B.expectEditor(FILE, base, 'the same text as A before A types');
  await session.expectFile(state.projectId, FILE, base, 'the text before A types');

  const typed = ` reload-safe-${token}`;
  await A.placeCursor(FILE, 'end');
  await A.type(typed, { delay: 0 });
  // Reloading before the editor's 300 ms save is the point; a file that has the text already proves nothing.
  const onDisk = session.readFile(state.projectId, FILE)?.toString('utf8');
  await A.page.reload();
  if (onDisk?.includes(typed)) {
    throw new Failure('the file was saved before the reload began, so this run could not test a reload before the save');
  }
  const expected = base + typed;
  await A.expectEditor(FILE, expected, 'everything typed before the reload, after the reload');
  await B.expectEditor(FILE, expected, 'everything A typed before reloading');
  await session.expectFile(state.projectId, FILE, expected, 'everything A typed before reloading');
}, { timeoutMs: 25_000, needs: [1] });

await session.step(5, 'orrery is killed (SIGKILL) and restarted; both browsers reconnect and go on', async () => {
  const { orrery } = session;
  await Promise.all([A.showFile(state.projectId, FILE), B.showFile(state.projectId, FILE)]);
  await Promise.all([A.expectConnection('connected', UI_MS), B.expectConnection('connected', UI_MS)]);

  await orrery.kill();
  await Promise.all([
    A.expectConnection((value) => value !== 'connected', UI_MS, 'to leave "connected" after the kill'),
    B.expectConnection((value) => value !== 'connected', UI_MS, 'to leave "connected" after the kill'),
  ]);
  await session.screenshots('step-5-while-down');

  await orrery.start();
  await Promise.all([A.expectConnection('connected', 30_000), B.expectConnection('connected', 30_000)]);

  const base = await A.editorText(FILE);
  const fromA = ` after-restart-A-${token}`;
  await A.placeCursor(FILE, 'end');
  await A.type(fromA, { delay: 0 });
  await B.expectEditor(FILE, base + fromA, 'what A typed after the restart');
  const fromB = ` after-restart-B-${token}`;
  await B.placeCursor(FILE, 'end');
  await B.type(fromB, { delay: 0 });
  await A.expectEditor(FILE, base + fromA + fromB, 'what B typed after the restart');
  await session.expectFile(state.projectId, FILE, base + fromA + fromB, 'what both typed after the restart');
}, { timeoutMs: 50_000, needs: [1] });

await session.step(6, 'C, not a collaborator, can open neither the project nor its channels', async () => {
  const C = await session.user('C', { name: 'Cyd E2E' });
  await C.signUp();

  // C's own project shows that C's list has loaded; only then does the absence of A's project mean something.
  await C.createProject(`C's project ${token}`);
  const listed = await C.projectRow(state.projectId).count();
  if (listed) throw new Failure(`C's project list shows A's project ${state.projectId}`);

  for (const route of [`#/p/${state.projectId}`, `#/p/${state.projectId}/f/${FILE}`]) {
    await C.goto(route);
    await C.visible(C.byTestId('error'), `an error at ${route}`);
    const opened = (await C.editor(FILE).count()) + (await C.byTestId('file-tree').count());
    if (opened) throw new Failure(`C sees A's project (its file tree or editor) at ${route}, beside the error`);
  }

  const channels = {
    1: { service: 'files' },
    2: { service: 'document', path: FILE, client: 1 },
    3: { service: 'terminal', name: state.terminal ?? 'e2e', size: { rows: 24, cols: 80 } },
  };
  const numbers = Object.keys(channels).map(Number);
  checkRefusals(await C.page.evaluate(rawOpen, { project: state.projectId, channels }), numbers, C.email);
  checkOpened(await A.page.evaluate(rawOpen, { project: state.projectId, channels }), numbers);
}, { timeoutMs: 25_000, needs: [1] });

await session.finish();

/** Opens the terminal another user opened, by its name: its tab if the page has one, else from the running terminals. */
async function openSharedTerminal(user, name) {
  await user.openProject(state.projectId);
  const tab = user.page.locator(`[data-testid="tab"][data-terminal="${name}"]`);
  if (await tab.count()) {
    await user.click(tab.first(), `switch to the tab of terminal "${name}"`);
  } else {
    await user.click(user.page.locator(`[data-testid="terminal-row"][data-terminal="${name}"]`), `join terminal "${name}" from the list`);
  }
  await user.visible(user.page.locator(`[data-testid="terminal"][data-terminal="${name}"]`), `terminal "${name}"`);
}

async function expectTerminal(user, text, what) {
  const rows = user.page.locator(`[data-testid="terminal"][data-terminal="${state.terminal}"] .xterm-rows`);
  await waitUntil(
    `${user.who}'s terminal to show ${what} (${show(text)})`,
    async () => (await rows.first().innerText()).replaceAll('\u00a0', ' '),
    (screen) => screen.split('\n').some((line) => line.trim() === text),
    { timeoutMs: UI_MS },
  );
}
