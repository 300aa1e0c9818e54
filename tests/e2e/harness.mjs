// What the end-to-end test needs around the browser: a free port, the real `orrery` process (start, SIGKILL, restart,
// and the removal of everything it started), steps that each say whether they passed and why not, waits with
// deadlines, and screenshots. Nothing here knows Orrery's pages; ui.mjs does.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** A TCP port on 127.0.0.1 that nothing listens on now; the test restarts Orrery on it, so it picks it itself. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A failure whose message is meant for the person reading the test's output as it is. */
export class Failure extends Error {}

/**
 * Polls `probe` until `accept(value)` holds; on the deadline throws a Failure that says what was awaited, for how long,
 * and the last value seen (or the last error the probe threw).
 */
export async function waitUntil(what, probe, accept, { timeoutMs = 10_000, intervalMs = 50 } = {}) {
  const start = Date.now();
  let last;
  let lastError;
  for (;;) {
    try {
      last = await probe();
      lastError = undefined;
      if (accept(last)) return { value: last, elapsedMs: Date.now() - start };
    } catch (error) {
      lastError = error;
    }
    if (Date.now() - start >= timeoutMs) {
      const seen = lastError ? `the last check failed: ${firstLine(lastError)}` : `last seen: ${show(last)}`;
      throw new Failure(`timed out after ${seconds(timeoutMs)} waiting for ${what}; ${seen}`);
    }
    await sleep(intervalMs);
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves to `fallback` after `ms`, without keeping the process alive for it. */
function timeout(ms, fallback) {
  return new Promise((resolve) => setTimeout(resolve, ms, fallback).unref());
}

export function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** A value as a failure message shows it: strings quoted with their newlines visible, long ones cut. */
export function show(value) {
  const text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  return text.length > 600 ? `${text.slice(0, 600)}… (${text.length} characters)` : text;
}

function firstLine(error) {
  return String(error?.message ?? error).split('\n')[0];
}

/**
 * The real `orrery up`, on one data directory and one port for its whole life, however often it is killed and started
 * again. Each start gets its own log file in `logDir`; the tail of the latest one goes into failure reports.
 */
export class Orrery {
  constructor({ binary, dataDir, port, logDir }) {
    this.binary = binary;
    this.dataDir = dataDir;
    this.port = port;
    this.logDir = logDir;
    this.starts = 0;
    this.process = undefined;
    this.logPath = undefined;
    // Every process group we started: local hubs may outlive a killed `orrery`, and are removed with their group.
    this.groups = [];
  }

  get url() {
    return `http://127.0.0.1:${this.port}/`;
  }

  /** Starts `orrery up` and waits for its "Orrery is running at ..." line; fails with its log if it dies or stays mute. */
  async start({ timeoutMs = 30_000 } = {}) {
    this.starts += 1;
    this.logPath = path.join(this.logDir, `orrery-${this.starts}.log`);
    const log = fs.createWriteStream(this.logPath);
    const args = ['up', '--data', this.dataDir, '--port', String(this.port)];
    log.write(`$ ${this.binary} ${args.join(' ')}\n`);
    // Its own process group, so that the end of the test can remove it and every local hub it started at once.
    const child = spawn(this.binary, args, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    this.process = child;
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.exited = exited;
    const spawned = new Promise((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) => reject(new Failure(`could not start ${this.binary}: ${error.message}`)));
    });
    await spawned;
    this.groups.push(child.pid);
    let output = '';
    const ready = new Promise((resolve) => {
      const take = (chunk) => {
        log.write(chunk);
        output += chunk.toString();
        const match = /Orrery is running at (\S+)/.exec(output);
        if (match) resolve(match[1]);
      };
      child.stdout.on('data', take);
      child.stderr.on('data', take);
    });
    const outcome = await Promise.race([
      ready.then((url) => ({ url })),
      exited.then((status) => ({ status })),
      timeout(timeoutMs, { timedOut: true }),
    ]);
    if (outcome.status) {
      throw new Failure(
        `orrery up exited (${describeExit(outcome.status)}) before saying it was running\n${this.logTail()}`,
      );
    }
    if (outcome.timedOut) {
      throw new Failure(`orrery up did not say "Orrery is running at ..." within ${seconds(timeoutMs)}\n${this.logTail()}`);
    }
    if (outcome.url !== this.url) {
      throw new Failure(`orrery up said it runs at ${outcome.url}, but it was asked for ${this.url}`);
    }
    return outcome.url;
  }

  /** SIGKILL to the `orrery` process alone, as a crash would: whatever it started is left to the restarted one. */
  async kill() {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      throw new Failure('orrery was not running when the test went to kill it');
    }
    process.kill(child.pid, 'SIGKILL');
    const status = await Promise.race([child.exited, timeout(5_000, undefined)]);
    if (!status) throw new Failure(`orrery (pid ${child.pid}) was still running 5 s after SIGKILL`);
  }

  /**
   * Removes everything this test started, whatever state it is in: each process group, then any process left whose
   * command line names our data directory (one that left its group). Synchronous, so it also runs on `exit`.
   */
  stopAll() {
    for (const group of this.groups) {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // The group is gone already.
      }
    }
    for (const pid of processesNaming(this.dataDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // It ended meanwhile.
      }
    }
    // SIGKILL is delivered at once, but a process takes a moment to go; wait (briefly, synchronously) until it has.
    const deadline = Date.now() + 2_000;
    while (processesNaming(this.dataDir).length && Date.now() < deadline) Atomics.wait(pause, 0, 0, 20);
  }

  /**
   * Run as root, the host gives each project a Unix user of its own (useradd), whose home is the project's directory;
   * this removes the ones whose home is in our data directory, so test runs do not pile up users. Call after stopAll:
   * userdel refuses a user who still runs a process.
   */
  removeProjectUsers() {
    let passwd = '';
    try {
      passwd = fs.readFileSync('/etc/passwd', 'utf8');
    } catch {
      return [];
    }
    const problems = [];
    for (const line of passwd.split('\n')) {
      const [name, , , , , home] = line.split(':');
      if (!name || !home?.startsWith(`${this.dataDir}/`)) continue;
      const result = spawnSync('userdel', [name], { encoding: 'utf8' });
      if (result.status !== 0) problems.push(`userdel ${name}: ${(result.stderr || result.error?.message || '').trim()}`);
    }
    return problems;
  }

  /** The last lines of the latest run's log, for a failure message. */
  logTail(lines = 40) {
    if (!this.logPath) return '(orrery was never started)';
    let text = '';
    try {
      text = fs.readFileSync(this.logPath, 'utf8');
    } catch (error) {
      return `(could not read ${this.logPath}: ${error.message})`;
    }
    // Colour codes, should a logger write them anyway, would only garble the report.
    const tail = text.replace(/\x1b\[[0-9;]*m/g, '').trimEnd().split('\n').slice(-lines);
    return `last ${tail.length} lines of ${this.logPath}:\n${tail.map((line) => `  | ${line}`).join('\n')}`;
  }
}

function describeExit({ code, signal }) {
  return signal ? `killed by ${signal}` : `exit status ${code}`;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Pids of the live processes (not this one, not zombies) whose command line contains `needle`. */
function processesNaming(needle) {
  const pids = [];
  let entries = [];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const commandLine = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const zombie = / Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/, ')'));
      if (commandLine.includes(needle) && !zombie) pids.push(pid);
    } catch {
      // It ended, or it is not ours to read.
    }
  }
  return pids;
}

/**
 * Runs numbered steps in order and remembers how each went. A step that throws is reported with its number, title
 * and reason, and the run goes on with the steps that do not need it; a step over its own budget is failed.
 * After each step, passed or not, `capture(label)` is called (the test takes its screenshots there).
 */
export class Steps {
  constructor({ capture, context }) {
    this.capture = capture;
    this.context = context;
    this.results = [];
    this.current = undefined;
  }

  async run(number, title, body, { timeoutMs, needs = [] }) {
    const missing = needs.filter((need) => this.results.find((result) => result.number === need)?.status !== 'passed');
    if (missing.length) {
      const result = { number, title, status: 'not run', reason: `needs step ${missing.join(', ')}` };
      this.results.push(result);
      console.log(`step ${number}: ${title}: NOT RUN (${result.reason})`);
      return;
    }
    this.current = { number, title };
    console.log(`step ${number}: ${title} ...`);
    const start = Date.now();
    let timer;
    const budget = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Failure(`the step took longer than its budget of ${seconds(timeoutMs)}`)), timeoutMs);
    });
    const result = { number, title };
    try {
      await Promise.race([body(), budget]);
      result.status = 'passed';
    } catch (error) {
      result.status = 'failed';
      result.reason = error instanceof Failure ? error.message : String(error?.stack ?? error);
    } finally {
      clearTimeout(timer);
    }
    result.elapsedMs = Date.now() - start;
    this.results.push(result);
    this.current = undefined;
    const label = `step-${number}-${result.status}`;
    try {
      await this.capture(label);
    } catch (error) {
      console.log(`  (screenshots after step ${number} failed: ${firstLine(error)})`);
    }
    if (result.status === 'passed') {
      console.log(`step ${number}: ${title}: passed in ${seconds(result.elapsedMs)}`);
    } else {
      console.log(`step ${number}: ${title}: FAILED after ${seconds(result.elapsedMs)}`);
      console.log(indent(result.reason));
      const context = this.context();
      if (context) console.log(indent(context));
    }
  }

  /** The closing report: one line per step, then "<name>: N passed, N failed". True when every step passed. */
  summary(name = 'e2e') {
    const passed = this.results.filter((result) => result.status === 'passed').length;
    const failed = this.results.length - passed;
    console.log('');
    for (const result of this.results) {
      const detail = result.status === 'passed' ? '' : `: ${result.reason.split('\n')[0]}`;
      console.log(`  step ${result.number} ${result.status.toUpperCase()} ${result.title}${detail}`);
    }
    console.log(`${name}: ${passed} passed, ${failed} failed`);
    return failed === 0;
  }
}

function indent(text) {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}
