import { DomainError, isDomainError } from '../../errors.js';
import type { GroupSnapshotOps, GroupSnapshotRecord, OpContext } from '../backend.js';
import type { Catalog } from './catalog.js';
import { snapshotRecord } from './catalog.js';
import type { PowerFlexClient } from './client.js';
import { groupMemberName, isGroupMemberName } from './naming.js';
import type { System } from './types.js';
import { formatLocalId, parseLocalId } from './volume-id.js';
import type { VolumeInfo } from './volumes.js';

/**
 * Group snapshots: one `snapshotVolumes` call with a definition per source volume, which the gateway takes as one
 * consistency group at one point in time, and answers with the group's id. A group's CSI id is
 * `<systemId>-<snapshotGroupId>`, parsed as strictly as a volume id. The members are snapshots like any other
 * (ListSnapshots shows them, CreateVolume restores them, DeleteSnapshot removes one), named from the group's CSI name
 * and their place among the sources sorted by id, so a retried call finds the group it made.
 */
export class GroupSnapshotter implements GroupSnapshotOps {
  constructor(
    private readonly client: PowerFlexClient,
    private readonly catalog: Catalog,
    private readonly system: (ctx: OpContext) => Promise<System>,
  ) {}

  async create(name: string, sourceVolumeIds: readonly string[], ctx: OpContext): Promise<GroupSnapshotRecord> {
    const sorted = [...sourceVolumeIds].sort();
    const sources: VolumeInfo[] = [];
    let systemId = '';
    for (const id of sorted) {
      const { ref, info } = await this.catalog.get('volume', id, ctx);
      systemId = ref.systemId;
      sources.push(info);
    }
    const wanted = new Set(sources.map((s) => s.id));
    const existing = await this.existing(name, systemId, wanted, ctx);
    if (existing) return existing;
    const definitions = sources.map((s, i) => ({ volumeId: s.id, snapshotName: groupMemberName(name, i) }));
    let groupId: string;
    try {
      groupId = (await this.client.snapshots.snapshotVolumes(systemId, definitions, 'ReadOnly', { signal: ctx.signal })).snapshotGroupId;
    } catch (err) {
      if (isDomainError(err, 'name-in-use')) {
        const raced = await this.existing(name, systemId, wanted, ctx);
        if (raced) return raced;
      }
      throw err;
    }
    const members = await this.members(groupId, ctx);
    if (members.length !== sources.length) throw new DomainError('internal', `group snapshot ${groupId} has ${members.length} members right after it was taken, not ${sources.length}`);
    ctx.log.info({ groupSnapshot: name, snapshotGroupId: groupId, members: members.map((m) => m.id) }, 'group snapshot taken');
    return groupRecord(systemId, groupId, members);
  }

  async get(id: string, snapshotIds: readonly string[], ctx: OpContext): Promise<GroupSnapshotRecord> {
    const { systemId, groupId } = await this.parse(id, ctx);
    const members = await this.members(groupId, ctx);
    if (members.length === 0) throw new DomainError('not-found', `group snapshot ${id} does not exist`);
    checkMembers(id, systemId, members, snapshotIds);
    return groupRecord(systemId, groupId, members);
  }

  async delete(id: string, snapshotIds: readonly string[], ctx: OpContext): Promise<void> {
    let parsed: { systemId: string; groupId: string };
    try {
      parsed = await this.parse(id, ctx);
    } catch (err) {
      if (isDomainError(err, 'not-found')) return;
      throw err;
    }
    const members = await this.members(parsed.groupId, ctx);
    if (members.length === 0) return;
    checkMembers(id, parsed.systemId, members, snapshotIds);
    try {
      await this.client.snapshots.removeConsistencyGroupSnapshots(parsed.systemId, parsed.groupId, { signal: ctx.signal });
    } catch (err) {
      if (isDomainError(err, 'not-found')) return;
      throw err;
    }
    ctx.log.info({ groupSnapshotId: id, members: members.length }, 'group snapshot deleted');
  }

  /** The group this name made, when it exists: the same sources answer it, other sources are already-exists. */
  private async existing(name: string, systemId: string, wanted: ReadonlySet<string>, ctx: OpContext): Promise<GroupSnapshotRecord | undefined> {
    const first = await this.catalog.findByName(groupMemberName(name, 0), ctx);
    if (!first) return undefined;
    const groupId = first.consistencyGroupId;
    if (groupId === undefined) throw new DomainError('internal', `group snapshot member ${first.name} has no consistency group`);
    const members = await this.members(groupId, ctx);
    const sources = new Set(members.map((m) => m.ancestorVolumeId));
    if (sources.size !== wanted.size || [...wanted].some((v) => !sources.has(v))) {
      throw new DomainError('already-exists', `group snapshot "${name}" exists with another set of source volumes`);
    }
    return groupRecord(systemId, groupId, members);
  }

  /** Ferry's members of one consistency group (a member deleted on its own is simply no longer one). */
  private async members(groupId: string, ctx: OpContext): Promise<VolumeInfo[]> {
    const all = await this.client.volumes.listVolumes(undefined, { signal: ctx.signal });
    return all.filter((v) => v.consistencyGroupId === groupId && isGroupMemberName(v.name) && v.ancestorVolumeId !== undefined).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** A group id this backend made names this backend's system; anything else is not found. */
  private async parse(id: string, ctx: OpContext): Promise<{ systemId: string; groupId: string }> {
    const ref = parseLocalId(id, 'group snapshot');
    const system = await this.system(ctx);
    if (ref.systemId !== system.id) throw new DomainError('not-found', `group snapshot ${id} does not exist (system ${ref.systemId} is not this backend's system ${system.id})`);
    return { systemId: ref.systemId, groupId: ref.volumeId };
  }
}

function groupRecord(systemId: string, groupId: string, members: readonly VolumeInfo[]): GroupSnapshotRecord {
  const snapshots = members.map((m) => snapshotRecord(m, systemId));
  return {
    id: formatLocalId({ systemId, volumeId: groupId }),
    snapshots,
    createdAt: Math.min(...members.map((m) => m.creationTime)),
    readyToUse: true,
  };
}

/** The CO's list of the group's snapshots, when it sends one, must be exactly the group's members. */
function checkMembers(id: string, systemId: string, members: readonly VolumeInfo[], snapshotIds: readonly string[]): void {
  if (snapshotIds.length === 0) return;
  const actual = new Set(members.map((m) => formatLocalId({ systemId, volumeId: m.id })));
  const given = new Set(snapshotIds);
  if (given.size !== actual.size || [...given].some((s) => !actual.has(s))) {
    throw new DomainError('invalid-argument', `snapshot_ids do not match the members of group snapshot ${id}`);
  }
}
