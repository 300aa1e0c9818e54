// The hub's browser protocol (hub/src/browser.rs) as step 6 speaks it on a raw WebSocket: each message is one frame,
// `varint channel` + `u8 kind` + JSON body; channel 0 carries WELCOME, OPEN, ERROR and CLOSE.

import { Failure, show } from './harness.mjs';

/**
 * Runs in a page: opens the hub's WebSocket with that page's sign-in, waits for WELCOME, asks to OPEN each channel, and
 * returns every frame the hub sent until it answered every channel (or 5 s passed, or it closed the socket).
 */
export async function rawOpen({ project, channels }) {
  const OPEN = 0x03;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const varint = (value) => {
    const bytes = [];
    do {
      let byte = value & 0x7f;
      value >>>= 7;
      if (value) byte |= 0x80;
      bytes.push(byte);
    } while (value);
    return bytes;
  };
  const encode = (channel, kind, body) =>
    new Uint8Array([...varint(channel), kind, ...encoder.encode(JSON.stringify(body))]);
  const decode = (data) => {
    const bytes = new Uint8Array(data);
    let channel = 0;
    let shift = 0;
    let index = 0;
    for (;;) {
      const byte = bytes[index++];
      channel += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(byte & 0x80)) break;
    }
    const kind = bytes[index];
    const text = decoder.decode(bytes.slice(index + 1));
    let body = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON: kept as text for the report.
    }
    return { channel, kind, body };
  };

  const url = new URL('/ws', location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const socket = new WebSocket(url);
  socket.binaryType = 'arraybuffer';
  const frames = [];
  let closed = null;
  const numbers = Object.keys(channels).map(Number);
  // A channel is answered when it is OPENED, or refused: ERROR on it and CLOSE of it on channel 0.
  const onControl = (kind, number) => frames.some((frame) => frame.channel === 0 && frame.kind === kind && frame.body?.channel === number);
  const answered = () =>
    numbers.every(
      (number) =>
        onControl(0x04, number) || (frames.some((frame) => frame.channel === number && frame.kind === 0x05) && onControl(0x06, number)),
    );
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 5_000);
    socket.onmessage = (event) => {
      const frame = decode(event.data);
      frames.push(frame);
      if (frames.length === 1 && frame.channel === 0 && frame.kind === 0x02) {
        for (const number of numbers) socket.send(encode(0, OPEN, { channel: number, project, ...channels[number] }));
      }
      if (answered()) {
        clearTimeout(timer);
        resolve();
      }
    };
    socket.onclose = (event) => {
      closed = { code: event.code, reason: event.reason };
      clearTimeout(timer);
      resolve();
    };
  });
  socket.close();
  return { frames, closed };
}

/** Each channel C asked for must get ERROR `no_project` on that channel, then CLOSE for it on channel 0; nothing opens. */
export function checkRefusals({ frames, closed }, numbers, email) {
  const shown = `the hub sent ${show(frames)}${closed ? ` and closed the socket (${show(closed)})` : ''}`;
  const welcome = frames[0];
  if (!welcome || welcome.channel !== 0 || welcome.kind !== 0x02) {
    throw new Failure(`C's WebSocket got no WELCOME first: ${shown}`);
  }
  if (welcome.body?.email !== email) {
    throw new Failure(`C's WebSocket was welcomed as ${show(welcome.body)}, not as C (${email})`);
  }
  for (const number of numbers) {
    const errorAt = frames.findIndex((frame) => frame.channel === number && frame.kind === 0x05);
    if (errorAt < 0) throw new Failure(`the hub sent no ERROR on channel ${number} when C asked to open it: ${shown}`);
    const code = frames[errorAt].body?.code;
    if (code !== 'no_project') {
      throw new Failure(`the ERROR on channel ${number} has code ${show(code)}, not "no_project": ${shown}`);
    }
    const closeAt = frames.findIndex((frame, index) => index > errorAt && frame.channel === 0 && frame.kind === 0x06 && frame.body?.channel === number);
    if (closeAt < 0) throw new Failure(`no CLOSE of channel ${number} on channel 0 followed its ERROR: ${shown}`);
  }
  const other = frames.find((frame) => ![0x02, 0x05, 0x06, 0x08].includes(frame.kind) || (frame.channel !== 0 && frame.kind !== 0x05));
  if (other) throw new Failure(`besides refusing, the hub sent ${show(other)} to C: ${shown}`);
}

/** A collaborator asking the same on the same kind of socket gets OPENED: the refusals above are about who asks. */
export function checkOpened({ frames, closed }, numbers) {
  const shown = `the hub sent ${show(frames)}${closed ? ` and closed the socket (${show(closed)})` : ''}`;
  for (const number of numbers) {
    if (!frames.some((frame) => frame.channel === 0 && frame.kind === 0x04 && frame.body?.channel === number)) {
      throw new Failure(`A, a collaborator, did not get OPENED for channel ${number} on a raw WebSocket: ${shown}`);
    }
  }
}
