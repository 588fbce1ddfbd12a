import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { rm } from 'node:fs/promises';

/**
 * A Unix-socket relay in front of a driver's socket that holds back the first bytes the driver sends on each
 * connection for `delayMs`, then relays both directions verbatim.
 *
 * Why: csi-test v5.4.0's utils.Connect dials, then loops `WaitForStateChange(ctx, GetState())` until it reads Ready.
 * If the connection turns Ready between the loop's check and its next GetState (a Unix socket handshake takes
 * microseconds), it waits for a change away from Ready that never comes and fails the first spec after a minute with
 * "Connection timed out" (seen in one of two fresh-clone CI runs). A connection cannot become Ready before the
 * server's HTTP/2 SETTINGS arrive; holding them back for a second puts the transition far from the loop's two
 * reads. Nothing is changed or dropped, so every real failure still shows.
 */
export interface HandshakeDelay {
  /** The relay's socket: give this to csi-sanity. */
  socket: string;
  close(): Promise<void>;
}

export async function startHandshakeDelay(target: string, socket: string, delayMs = 1_000): Promise<HandshakeDelay> {
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(target);
    open.add(client);
    open.add(upstream);
    const held: Buffer[] = [];
    let holding = true;
    const timer = setTimeout(() => {
      holding = false;
      for (const chunk of held) client.write(chunk);
      held.length = 0;
    }, delayMs);
    upstream.on('data', (chunk: Buffer) => (holding ? held.push(chunk) : client.write(chunk)));
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    const end = (): void => {
      clearTimeout(timer);
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await rm(socket, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  return {
    socket,
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(socket, { force: true });
    },
  };
}
