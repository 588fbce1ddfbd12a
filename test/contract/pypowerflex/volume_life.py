"""Drives a full volume life through PyPowerFlex 2.0.1, unchanged, against a gateway (in Ferry's tests: a real
`ferry pool`). Every call's result is checked: values, errorCodes and the gateway's message texts. One line per
call on stdout:

    ok   <call>: <what was seen>
    FAIL <call>: <what was expected>, <what was seen>

then "pypowerflex: N passed, M failed"; the exit status is 1 when anything failed. PyPowerFlex speaks HTTPS only.
"""

import argparse
import ast
import base64
import json
import logging
import re
import ssl
import sys
import time
import urllib.request

from PyPowerFlex import PowerFlexClient
from PyPowerFlex import exceptions
from PyPowerFlex.objects.common.system import SnapshotDef

GIB_IN_KB = 1024 * 1024
HEX_ID = re.compile(r'^[0-9a-f]{16}$')


class Run:
    """The calls made and how each went."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, call, seen):
        self.passed += 1
        print(f'ok   {call}: {seen}', flush=True)

    def fail(self, call, detail):
        self.failed += 1
        print(f'FAIL {call}: {detail}', flush=True)

    def check(self, call, fn, good, describe=repr):
        """Calls fn(); it must succeed and good(result) must hold. Returns the result (None on failure)."""
        try:
            result = fn()
        except Exception as err:  # pylint: disable=broad-except
            self.fail(call, f'expected success, got {type(err).__name__}: {err}')
            return None
        try:
            accepted = good(result)
        except Exception as err:  # pylint: disable=broad-except
            accepted = False
            self.fail(call, f'cannot check {describe(result)}: {err}')
            return None
        if not accepted:
            self.fail(call, f'unexpected result: {describe(result)}')
            return None
        self.ok(call, describe(result))
        return result

    def refused(self, call, fn, status, code, message):
        """fn() must fail with exactly this gateway error body."""
        expected = {'message': message, 'httpStatusCode': status, 'errorCode': code}
        try:
            result = fn()
        except exceptions.PowerFlexClientException as err:
            body = gateway_body(err)
            if body == expected:
                self.ok(call, f'refused: HTTP {status} errorCode {code} {message!r}')
            else:
                self.fail(call, f'expected {expected}, got {body!r} ({err})')
            return
        except Exception as err:  # pylint: disable=broad-except
            self.fail(call, f'expected {expected}, got {type(err).__name__}: {err}')
            return
        self.fail(call, f'expected {expected}, got success: {result!r}')


def gateway_body(err):
    """The gateway's error body a PyPowerFlex exception carries (as `response`, or printed in its message)."""
    if isinstance(err.response, dict):
        return err.response
    found = re.search(r'Error: (\{.*\})', err.message or '')
    if not found:
        return None
    try:
        return ast.literal_eval(found.group(1))
    except (ValueError, SyntaxError):
        return None


def mapped(volume):
    return [m['sdcId'] for m in (volume.get('mappedSdcInfo') or [])]


def pool_stats(args):
    """The pool's counters, from its admin endpoint (Basic user:password), outside the gateway API."""
    context = ssl.create_default_context(cafile=args.ca) if args.ca else ssl._create_unverified_context()  # pylint: disable=protected-access
    request = urllib.request.Request(f'https://{args.host}:{args.port}/pool/stats')
    credentials = base64.b64encode(f'{args.user}:{args.password}'.encode()).decode()
    request.add_header('Authorization', f'Basic {credentials}')
    with urllib.request.urlopen(request, context=context, timeout=30) as answer:
        return json.load(answer)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--user', default='admin')
    parser.add_argument('--password', required=True)
    parser.add_argument('--ca', help='CA certificate to verify against (default: no verification)')
    parser.add_argument('--system-name', required=True)
    parser.add_argument('--protection-domain', default='pd1')
    parser.add_argument('--storage-pool', default='pool1')
    parser.add_argument('--guid1', required=True)
    parser.add_argument('--guid2', required=True)
    parser.add_argument('--token-idle', type=float, default=0, help='the gateway token idle timeout, seconds (0: skip)')
    parser.add_argument('--capacity-kib', type=int, required=True)
    args = parser.parse_args()
    run = Run()
    try:
        life(run, args)
    finally:
        print(f'pypowerflex: {run.passed} passed, {run.failed} failed', flush=True)
    return 1 if run.failed else 0


def life(run, args):  # pylint: disable=too-many-locals,too-many-statements
    client = PowerFlexClient(gateway_address=args.host, gateway_port=args.port, username=args.user,
                             password=args.password, verify_certificate=args.ca is not None,
                             certificate_path=args.ca, log_level=logging.CRITICAL)
    if run.check('initialize (login, version)', lambda: client.initialize() or 'initialised', lambda r: True, str) is None:
        return
    run.check('system.api_version', lambda: client.system.api_version(cached=False), lambda v: v == '3.6')

    systems = run.check('system.get', client.system.get,
                        lambda s: len(s) == 1 and s[0]['name'] == args.system_name and HEX_ID.match(s[0]['id']),
                        lambda s: [(x['id'], x['name']) for x in s])
    if not systems:
        return
    system_id = systems[0]['id']
    pds = run.check('protection_domain.get by name', lambda: client.protection_domain.get(filter_fields={'name': args.protection_domain}),
                    lambda p: len(p) == 1 and p[0]['systemId'] == system_id, lambda p: [(x['id'], x['name']) for x in p])
    if not pds:
        return
    pools = run.check('storage_pool.get by name and domain',
                      lambda: client.storage_pool.get(filter_fields={'name': args.storage_pool, 'protectionDomainId': pds[0]['id']}),
                      lambda p: len(p) == 1, lambda p: [(x['id'], x['name']) for x in p])
    if not pools:
        return
    pool_id = pools[0]['id']

    name = f'pyfx-{int(time.time() * 1000) % 1000000000}'
    volume = run.check('volume.create 10 GiB', lambda: client.volume.create(pool_id, 10, name=name),
                       lambda v: HEX_ID.match(v['id']) and v['name'] == name and v['sizeInKb'] == 16 * GIB_IN_KB,
                       lambda v: f"{v['id']} {v['name']!r} {v['sizeInKb']} KiB")
    if not volume:
        return
    vid = volume['id']
    run.refused('volume.create same name', lambda: client.volume.create(pool_id, 8, name=name),
                500, 99, 'Volume name already in use. Please use a different name.')
    run.check('volume.get by name', lambda: client.volume.get(filter_fields={'name': name}),
              lambda v: [x['id'] for x in v] == [vid], lambda v: [x['id'] for x in v])
    run.check('volume.get by id', lambda: client.volume.get(entity_id=vid),
              lambda v: v['name'] == name and v['volumeType'] == 'ThinProvisioned' and v['mappedSdcInfo'] is None,
              lambda v: f"{v['id']} {v['name']!r} {v['volumeType']}")
    run.refused('volume.get unknown id', lambda: client.volume.get(entity_id='0123456789abcdef'), 500, 79, 'Could not find the volume')

    sdc1 = run.check('sdc.get by GUID', lambda: client.sdc.get(filter_fields={'sdcGuid': args.guid1}),
                     lambda s: len(s) == 1 and s[0]['mdmConnectionState'] == 'Connected', lambda s: [(x['id'], x['sdcGuid']) for x in s])
    sdc2 = run.check('sdc.get by GUID (second host)', lambda: client.sdc.get(filter_fields={'sdcGuid': args.guid2}),
                     lambda s: len(s) == 1, lambda s: [(x['id'], x['sdcGuid']) for x in s])
    if not sdc1 or not sdc2:
        return
    sdc1_id, sdc2_id = sdc1[0]['id'], sdc2[0]['id']

    run.check('volume.add_mapped_sdc allow_multiple_mappings False',
              lambda: client.volume.add_mapped_sdc(vid, sdc_id=sdc1_id, allow_multiple_mappings=False),
              lambda v: mapped(v) == [sdc1_id], lambda v: f'mapped to {mapped(v)}')
    run.refused('volume.add_mapped_sdc same SDC again',
                lambda: client.volume.add_mapped_sdc(vid, sdc_id=sdc1_id, allow_multiple_mappings=False),
                500, 81, 'The volume is already mapped to this SDC')
    run.refused('volume.add_mapped_sdc second SDC',
                lambda: client.volume.add_mapped_sdc(vid, sdc_id=sdc2_id, allow_multiple_mappings=False),
                500, 297, 'This volume is already mapped and may not be mapped to additional SDCs.')
    run.check('volume.set_mapped_sdc_limits',
              lambda: client.volume.set_mapped_sdc_limits(vid, sdc1_id, bandwidth_limit=10240, iops_limit=100),
              lambda v: [(m['limitIops'], m['limitBwInMbps']) for m in v['mappedSdcInfo']] == [(100, 10)],
              lambda v: [(m['sdcId'], m['limitIops'], m['limitBwInMbps']) for m in v['mappedSdcInfo']])
    run.refused('volume.delete while mapped', lambda: client.volume.delete(vid, 'ONLY_ME'), 500, 104, 'Volume is mapped')
    run.check('volume.remove_mapped_sdc by id', lambda: client.volume.remove_mapped_sdc(vid, sdc_id=sdc1_id),
              lambda v: mapped(v) == [], lambda v: f'mapped to {mapped(v)}')
    run.refused('volume.remove_mapped_sdc not mapped', lambda: client.volume.remove_mapped_sdc(vid, sdc_id=sdc1_id),
                500, 84, 'The volume is not mapped to SDC')
    run.check('volume.add_mapped_sdc by GUID', lambda: client.volume.add_mapped_sdc(vid, sdc_guid=args.guid2),
              lambda v: mapped(v) == [sdc2_id], lambda v: f'mapped to {mapped(v)}')
    run.check('volume.remove_mapped_sdc by GUID', lambda: client.volume.remove_mapped_sdc(vid, sdc_guid=args.guid2),
              lambda v: mapped(v) == [], lambda v: f'mapped to {mapped(v)}')
    run.refused('volume.remove_mapped_sdc unknown GUID', lambda: client.volume.remove_mapped_sdc(vid, sdc_guid='NO-SUCH-GUID'),
                500, 80, 'Could not find the SDC')
    run.check('volume.add_mapped_sdc allow_multiple_mappings True',
              lambda: client.volume.add_mapped_sdc(vid, sdc_id=sdc1_id, allow_multiple_mappings=True),
              lambda v: mapped(v) == [sdc1_id], lambda v: f'mapped to {mapped(v)}')
    run.check('volume.add_mapped_sdc second host allow_multiple_mappings True',
              lambda: client.volume.add_mapped_sdc(vid, sdc_id=sdc2_id, allow_multiple_mappings=True),
              lambda v: sorted(mapped(v)) == sorted([sdc1_id, sdc2_id]), lambda v: f'mapped to {mapped(v)}')
    run.check('volume.remove_mapped_sdc all_sdcs', lambda: client.volume.remove_mapped_sdc(vid, all_sdcs=True),
              lambda v: mapped(v) == [], lambda v: f'mapped to {mapped(v)}')

    snap = run.check('system.snapshot_volumes',
                     lambda: client.system.snapshot_volumes(system_id, [SnapshotDef(vid, f'{name}-snap')], access_mode='ReadOnly'),
                     lambda s: len(s['volumeIdList']) == 1 and HEX_ID.match(s['snapshotGroupId']))
    snap_id = snap['volumeIdList'][0] if snap else None
    if snap_id:
        run.check('volume.get snapshot', lambda: client.volume.get(entity_id=snap_id),
                  lambda v: v['volumeType'] == 'Snapshot' and v['ancestorVolumeId'] == vid and v['accessModeLimit'] == 'ReadOnly',
                  lambda v: f"{v['id']} {v['name']!r} {v['volumeType']} ancestor {v['ancestorVolumeId']}")

    # Several definitions in one snapshot_volumes: one consistency group; remove_cg_snapshots removes it whole.
    second = run.check('volume.create second (for a consistency group)', lambda: client.volume.create(pool_id, 8, name=f'{name}-2'),
                       lambda v: HEX_ID.match(v['id']))
    vid2 = second['id'] if second else None
    if vid2:
        group = run.check('system.snapshot_volumes two volumes',
                          lambda: client.system.snapshot_volumes(system_id, [SnapshotDef(vid, f'{name}-g1'), SnapshotDef(vid2, f'{name}-g2')],
                                                                 access_mode='ReadOnly'),
                          lambda s: len(s['volumeIdList']) == 2 and HEX_ID.match(s['snapshotGroupId']))
        if group:
            gid = group['snapshotGroupId']
            run.check('volume.get group members', lambda: [client.volume.get(entity_id=i) for i in group['volumeIdList']],
                      lambda vs: [v['consistencyGroupId'] for v in vs] == [gid, gid] and [v['ancestorVolumeId'] for v in vs] == [vid, vid2],
                      lambda vs: [(v['id'], v['consistencyGroupId'], v['ancestorVolumeId']) for v in vs])
            run.check('system.remove_cg_snapshots', lambda: client.system.remove_cg_snapshots(system_id, gid),
                      lambda r: r is not None)
            run.refused('volume.get removed group member', lambda: client.volume.get(entity_id=group['volumeIdList'][1]),
                        500, 79, 'Could not find the volume')
            run.refused('system.remove_cg_snapshots again', lambda: client.system.remove_cg_snapshots(system_id, gid), 500, 185,
                        'No volumes were found under the given consistency group or the consistency group ID is not valid')
        run.check('volume.delete second', lambda: client.volume.delete(vid2, 'ONLY_ME'), lambda r: r == {})

    run.check('volume.extend to 24 GiB', lambda: client.volume.extend(vid, 24),
              lambda v: v['sizeInKb'] == 24 * GIB_IN_KB, lambda v: f"sizeInKb {v['sizeInKb']}")
    run.refused('volume.extend shrink', lambda: client.volume.extend(vid, 8), 500, 133, 'Volume capacity can only be increased')
    run.check('volume.rename', lambda: client.volume.rename(vid, f'{name}-r'), lambda r: r == {})
    run.check('volume.get renamed', lambda: client.volume.get(filter_fields={'name': f'{name}-r'}),
              lambda v: [x['id'] for x in v] == [vid], lambda v: [x['id'] for x in v])
    run.refused('volume.rename to the snapshot name', lambda: client.volume.rename(vid, f'{name}-snap'),
                500, 99, 'Volume name already in use. Please use a different name.')

    run.check('volume.get_statistics', lambda: client.volume.get_statistics(vid),
              lambda s: s['numOfMappedSdcs'] == 0 and 'numOccured' in s['userDataReadBwc'])
    run.check('system.query_selected_statistics',
              lambda: client.system.query_selected_statistics(['numOfVolumes', 'numOfSdc', 'capacityLimitInKb']),
              lambda s: s['numOfVolumes'] >= 2 and s['numOfSdc'] == 2 and s['capacityLimitInKb'] == args.capacity_kib)
    run.check('storage_pool.get_statistics', lambda: client.storage_pool.get_statistics(pool_id),
              lambda s: s['maxCapacityInKb'] == args.capacity_kib,
              lambda s: {k: s[k] for k in ('maxCapacityInKb', 'capacityAvailableForVolumeAllocationInKb', 'numOfVolumes')})
    run.check('storage_pool.query_selected_statistics (allIds)',
              lambda: client.storage_pool.query_selected_statistics(['maxCapacityInKb', 'numOfVolumes']),
              lambda s: list(s) == [pool_id] and s[pool_id]['maxCapacityInKb'] == args.capacity_kib)

    if args.token_idle > 0:
        # PyPowerFlex logs in twice before every request (once for the version, once for the call), so an expired
        # token never reaches the gateway: the call works, and costs exactly two logins.
        before = pool_stats(args)
        time.sleep(args.token_idle + 0.5)
        run.check('re-login after token expiry', lambda: (client.sdc.get(), pool_stats(args)),
                  lambda r: len(r[0]) == 2 and r[1]['logins'] == before['logins'] + 2,
                  lambda r: f"{len(r[0])} SDC(s) after {args.token_idle}s idle, logins {before['logins']} -> {r[1]['logins']}")

    if snap_id:
        run.check('volume.delete snapshot', lambda: client.volume.delete(snap_id, 'ONLY_ME'), lambda r: r == {})
    run.check('volume.delete', lambda: client.volume.delete(vid, 'ONLY_ME'), lambda r: r == {})
    run.refused('volume.get deleted', lambda: client.volume.get(entity_id=vid), 500, 79, 'Could not find the volume')


if __name__ == '__main__':
    sys.exit(main())
