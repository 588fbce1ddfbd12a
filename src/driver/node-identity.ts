import type { NodeConfig } from '../config/node.js';
import { DomainError } from '../errors.js';
import { exec } from '../util/exec.js';
import type { Logger } from '../util/log.js';

const GUID = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;

/**
 * The CSI node id. With a PowerFlex backend it is this host's SDC GUID (as in Dell's driver): the controller finds
 * the SDC to map to from the node id alone, without asking the node. Otherwise it is the --node-id flag.
 */
export async function resolveNodeId(node: NodeConfig, needsSdc: boolean, flagNodeId: string, log: Logger): Promise<string> {
  if (!needsSdc) return flagNodeId;
  if (node.sdcGuid !== undefined) return node.sdcGuid.toUpperCase();
  const [program, ...args] = node.sdcGuidCommand;
  if (program === undefined) throw new DomainError('invalid-argument', 'node.sdcGuidCommand is empty');
  const { stdout } = await exec(program, args, { timeoutMs: 15_000, logger: log });
  const guid = stdout.trim().toUpperCase();
  if (!GUID.test(guid)) throw new DomainError('failed-precondition', `${node.sdcGuidCommand.join(' ')} printed "${stdout.trim()}", not an SDC GUID`);
  return guid;
}
