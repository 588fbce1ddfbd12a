// Command goscaleio-contract drives a full volume life through Dell's Go client goscaleio, unchanged, against a
// gateway (in Ferry's tests: a real `ferry pool`). Every call's result is checked: values, errorCodes and the
// gateway's message texts, which Dell's CSI driver compares. One line per call on stdout:
//
//	ok   <call>: <what was seen>
//	FAIL <call>: <what was expected>, <what was seen>
//
// then "goscaleio: N passed, M failed"; the exit status is 1 when anything failed.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	goscaleio "github.com/dell/goscaleio"
	types "github.com/dell/goscaleio/types/v1"
)

const gib = 1024 * 1024 // KiB in a GiB

type run struct {
	passed, failed int
}

func (r *run) ok(call, seen string) {
	r.passed++
	fmt.Printf("ok   %s: %s\n", call, seen)
}

func (r *run) fail(call, format string, args ...any) {
	r.failed++
	fmt.Printf("FAIL %s: %s\n", call, fmt.Sprintf(format, args...))
}

// check records a call whose error must be nil and whose result `good` accepts.
func (r *run) check(call string, err error, good bool, seen string) bool {
	if err != nil {
		r.fail(call, "expected success, got error %v", err)
		return false
	}
	if !good {
		r.fail(call, "unexpected result: %s", seen)
		return false
	}
	r.ok(call, seen)
	return true
}

// refused records a call that must fail with exactly this gateway error.
func (r *run) refused(call string, err error, status, code int, message string) {
	var gw *types.Error
	if !errors.As(err, &gw) {
		r.fail(call, "expected HTTP %d errorCode %d %q, got %v", status, code, message, err)
		return
	}
	if gw.HTTPStatusCode != status || gw.ErrorCode != code || gw.Message != message {
		r.fail(call, "expected HTTP %d errorCode %d %q, got HTTP %d errorCode %d %q", status, code, message, gw.HTTPStatusCode, gw.ErrorCode, gw.Message)
		return
	}
	r.ok(call, fmt.Sprintf("refused: HTTP %d errorCode %d %q", gw.HTTPStatusCode, gw.ErrorCode, gw.Message))
}

var hexID = regexp.MustCompile(`^[0-9a-f]{16}$`)

type poolStats struct {
	Logins       int `json:"logins"`
	Unauthorized int `json:"unauthorized"`
}

func main() {
	endpoint := flag.String("endpoint", "", "gateway URL, e.g. https://127.0.0.1:8443")
	user := flag.String("user", "admin", "gateway user")
	password := flag.String("password", "", "gateway password")
	insecure := flag.Bool("insecure", false, "skip TLS verification")
	caFile := flag.String("ca", "", "CA certificate to trust (implies verification)")
	systemName := flag.String("system-name", "", "the system's name")
	pdName := flag.String("protection-domain", "pd1", "protection domain name")
	poolName := flag.String("storage-pool", "pool1", "storage pool name")
	guid1 := flag.String("guid1", "", "GUID of the first host")
	guid2 := flag.String("guid2", "", "GUID of the second host")
	idle := flag.Duration("token-idle", 0, "the gateway's token idle timeout (0: skip the expiry step)")
	capacityKiB := flag.Int("capacity-kib", 0, "the pool's capacity in KiB")
	flag.Parse()
	r := &run{}
	defer func() {
		fmt.Printf("goscaleio: %d passed, %d failed\n", r.passed, r.failed)
		if r.failed > 0 {
			os.Exit(1)
		}
	}()

	client, err := goscaleio.NewClientWithArgs(*endpoint, "", 30, *insecure, *caFile != "", *caFile)
	if !r.check("NewClientWithArgs", err, err == nil, *endpoint) {
		return
	}
	_, err = client.Authenticate(&goscaleio.ConfigConnect{Endpoint: *endpoint, Username: *user, Password: *password})
	if !r.check("Authenticate", err, client.GetToken() != "", "token received") {
		return
	}
	version, err := client.GetVersion()
	r.check("GetVersion", err, version == "3.6", version)

	systems, err := client.GetSystems()
	r.check("GetSystems", err, len(systems) == 1 && hexID.MatchString(systems[0].ID), fmt.Sprintf("%d system(s)", len(systems)))
	system, err := client.FindSystem("", *systemName, "")
	if !r.check("FindSystem by name", err, system != nil && system.System.Name == *systemName, fmt.Sprintf("%s named %q", idOf(system), nameOf(system))) {
		return
	}

	pd, err := system.FindProtectionDomain("", *pdName, "")
	if !r.check("FindProtectionDomain", err, pd != nil && pd.Name == *pdName && hexID.MatchString(pd.ID), fmt.Sprintf("%+v", short(pd))) {
		return
	}
	byName, err := system.FindProtectionDomainByName(*pdName)
	r.check("FindProtectionDomainByName", err, byName != nil && byName.ID == pd.ID, fmt.Sprintf("%+v", short(byName)))
	_, err = system.FindProtectionDomainByName("no-such-domain")
	if err == nil || !strings.Contains(err.Error(), "Could not find Protection Domain") {
		r.fail("FindProtectionDomainByName unknown", "expected the gateway's \"Could not find Protection Domain\", got %v", err)
	} else {
		r.ok("FindProtectionDomainByName unknown", err.Error())
	}
	pdc := goscaleio.NewProtectionDomainEx(client, pd)
	sp, err := pdc.FindStoragePool("", *poolName, "")
	if !r.check("FindStoragePool", err, sp != nil && sp.Name == *poolName && sp.ProtectionDomainID == pd.ID, fmt.Sprintf("%s %q", spID(sp), *poolName)) {
		return
	}
	pool := goscaleio.NewStoragePoolEx(client, sp)

	// Create 10 GiB: the system gives the next multiple of 8 GiB.
	name := fmt.Sprintf("gsio-%d", time.Now().UnixNano()%1_000_000_000)
	created, err := pool.CreateVolume(&types.VolumeParam{Name: name, VolumeSizeInKb: fmt.Sprint(10 * gib), VolumeType: "ThinProvisioned"})
	if !r.check("CreateVolume", err, created != nil && hexID.MatchString(created.ID), fmt.Sprintf("id %s", respID(created))) {
		return
	}
	id := created.ID
	_, err = pool.CreateVolume(&types.VolumeParam{Name: name, VolumeSizeInKb: fmt.Sprint(8 * gib)})
	r.refused("CreateVolume same name", err, 500, 99, "Volume name already in use. Please use a different name.")

	vols, err := pool.GetVolume("", "", "", name, false)
	r.check("GetVolume by name", err, len(vols) == 1 && vols[0].ID == id && vols[0].SizeInKb == 16*gib,
		fmt.Sprintf("%d volume(s), %s", len(vols), volSummary(vols)))
	// goscaleio answers (nil, nil) only when the gateway says exactly "Not found".
	missing, err := pool.GetVolume("", "", "", "no-such-volume", false)
	r.check("GetVolume by unknown name", err, missing == nil, fmt.Sprintf("%d volume(s)", len(missing)))
	vols, err = client.GetVolume("", id, "", "", false)
	r.check("GetVolume by id", err, len(vols) == 1 && vols[0].Name == name && vols[0].VolumeType == "ThinProvisioned" && len(vols[0].MappedSdcInfo) == 0,
		volSummary(vols))
	_, err = client.GetVolume("", "0123456789abcdef", "", "", false)
	r.refused("GetVolume unknown id", err, 500, 79, "Could not find the volume")
	if len(vols) != 1 {
		return
	}
	volume := goscaleio.NewVolume(client)
	volume.Volume = vols[0]
	refresh := func() *types.Volume {
		got, err := client.GetVolume("", id, "", "", false)
		if err != nil || len(got) != 1 {
			return &types.Volume{}
		}
		return got[0]
	}

	sdcs, err := system.GetSdc()
	r.check("GetSdc", err, len(sdcs) == 2, fmt.Sprintf("%d SDC(s)", len(sdcs)))
	sdc1, err := system.FindSdc("SdcGUID", *guid1)
	if !r.check("FindSdc by GUID", err, sdc1 != nil && hexID.MatchString(sdc1.Sdc.ID) && sdc1.Sdc.MdmConnectionState == "Connected", sdcSummary(sdc1)) {
		return
	}
	sdc2, err := system.FindSdc("SdcGUID", *guid2)
	if !r.check("FindSdc by GUID (second host)", err, sdc2 != nil, sdcSummary(sdc2)) {
		return
	}
	byID, err := system.GetSdcByID(sdc1.Sdc.ID)
	r.check("GetSdcByID", err, byID != nil && byID.Sdc.SdcGUID == *guid1, sdcSummary(byID))

	err = volume.MapVolumeSdc(&types.MapVolumeSdcParam{SdcID: sdc1.Sdc.ID, AllowMultipleMappings: "FALSE"})
	mapped := refresh()
	r.check("MapVolumeSdc allowMultipleMappings FALSE", err, len(mapped.MappedSdcInfo) == 1 && mapped.MappedSdcInfo[0].SdcID == sdc1.Sdc.ID,
		mappings(mapped))
	err = volume.MapVolumeSdc(&types.MapVolumeSdcParam{SdcID: sdc1.Sdc.ID, AllowMultipleMappings: "FALSE"})
	r.refused("MapVolumeSdc same SDC again", err, 500, 81, "The volume is already mapped to this SDC")
	err = volume.MapVolumeSdc(&types.MapVolumeSdcParam{SdcID: sdc2.Sdc.ID, AllowMultipleMappings: "FALSE"})
	r.refused("MapVolumeSdc second SDC", err, 500, 297, "This volume is already mapped and may not be mapped to additional SDCs.")
	err = volume.MapVolumeSdc(&types.MapVolumeSdcParam{SdcID: "0123456789abcdef", AllowMultipleMappings: "TRUE"})
	r.refused("MapVolumeSdc unknown SDC", err, 500, 80, "Could not find the SDC")

	err = volume.SetMappedSdcLimits(&types.SetMappedSdcLimitsParam{SdcID: sdc1.Sdc.ID, BandwidthLimitInKbps: "10240", IopsLimit: "100"})
	limited := refresh()
	r.check("SetMappedSdcLimits", err, len(limited.MappedSdcInfo) == 1 && limited.MappedSdcInfo[0].LimitIops == 100 && limited.MappedSdcInfo[0].LimitBwInMbps == 10,
		mappings(limited))

	err = volume.RemoveVolume("ONLY_ME")
	r.refused("RemoveVolume while mapped", err, 500, 104, "Volume is mapped")

	err = volume.UnmapVolumeSdc(&types.UnmapVolumeSdcParam{SdcID: sdc1.Sdc.ID})
	r.check("UnmapVolumeSdc by id", err, len(refresh().MappedSdcInfo) == 0, mappings(refresh()))
	err = volume.UnmapVolumeSdc(&types.UnmapVolumeSdcParam{SdcID: sdc1.Sdc.ID})
	r.refused("UnmapVolumeSdc not mapped", err, 500, 84, "The volume is not mapped to SDC")

	// goscaleio's unmap takes no GUID: its users (Dell's driver) resolve the node's GUID to the SDC id first.
	err = volume.MapVolumeSdc(&types.MapVolumeSdcParam{SdcID: sdc2.Sdc.ID, AllowMultipleMappings: "FALSE"})
	r.check("MapVolumeSdc second host", err, len(refresh().MappedSdcInfo) == 1, mappings(refresh()))
	byGUID, err := system.FindSdc("SdcGUID", *guid2)
	if err == nil {
		err = volume.UnmapVolumeSdc(&types.UnmapVolumeSdcParam{SdcID: byGUID.Sdc.ID})
	}
	r.check("UnmapVolumeSdc by GUID (FindSdc, then its id)", err, len(refresh().MappedSdcInfo) == 0, mappings(refresh()))
	err = volume.MapVolumeSdc(&types.MapVolumeSdcParam{SdcID: sdc1.Sdc.ID, AllowMultipleMappings: "TRUE"})
	if err == nil {
		err = volume.MapVolumeSdc(&types.MapVolumeSdcParam{SdcID: sdc2.Sdc.ID, AllowMultipleMappings: "TRUE"})
	}
	r.check("MapVolumeSdc two hosts allowMultipleMappings TRUE", err, len(refresh().MappedSdcInfo) == 2, mappings(refresh()))
	err = volume.UnmapVolumeSdc(&types.UnmapVolumeSdcParam{AllSdcs: "TRUE"})
	r.check("UnmapVolumeSdc allSdcs", err, len(refresh().MappedSdcInfo) == 0, mappings(refresh()))

	snap, err := system.CreateSnapshotConsistencyGroup(&types.SnapshotVolumesParam{
		SnapshotDefs: []*types.SnapshotDef{{VolumeID: id, SnapshotName: name + "-snap"}},
		AccessMode:   "ReadOnly",
	})
	snapID := ""
	if snap != nil && len(snap.VolumeIDList) == 1 {
		snapID = snap.VolumeIDList[0]
	}
	r.check("CreateSnapshotConsistencyGroup", err, hexID.MatchString(snapID) && hexID.MatchString(snap.SnapshotGroupID), fmt.Sprintf("%+v", snap))
	snaps, err := client.GetVolume("", snapID, "", "", false)
	r.check("GetVolume snapshot", err, len(snaps) == 1 && snaps[0].VolumeType == "Snapshot" && snaps[0].AncestorVolumeID == id &&
		snaps[0].VTreeID == volume.Volume.VTreeID && snaps[0].AccessModeLimit == "ReadOnly", volSummary(snaps))

	// Dell's driver snapshots a group of volumes with one CreateSnapshotConsistencyGroup: one group id for all.
	second, err := pool.CreateVolume(&types.VolumeParam{Name: name + "-2", VolumeSizeInKb: fmt.Sprint(8 * gib), VolumeType: "ThinProvisioned"})
	r.check("CreateVolume second (for a consistency group)", err, second != nil && hexID.MatchString(second.ID), fmt.Sprintf("id %s", respID(second)))
	if second != nil {
		group, err := system.CreateSnapshotConsistencyGroup(&types.SnapshotVolumesParam{
			SnapshotDefs: []*types.SnapshotDef{{VolumeID: id, SnapshotName: name + "-g1"}, {VolumeID: second.ID, SnapshotName: name + "-g2"}},
			AccessMode:   "ReadOnly",
		})
		r.check("CreateSnapshotConsistencyGroup two volumes", err, group != nil && len(group.VolumeIDList) == 2 && hexID.MatchString(group.SnapshotGroupID), fmt.Sprintf("%+v", group))
		members := []*types.Volume{}
		if group != nil {
			for _, memberID := range group.VolumeIDList {
				got, _ := client.GetVolume("", memberID, "", "", false)
				members = append(members, got...)
			}
		}
		sameGroup := len(members) == 2
		for i, m := range members {
			sameGroup = sameGroup && group != nil && m.ConsistencyGroupID == group.SnapshotGroupID && m.AncestorVolumeID == []string{id, second.ID}[i]
		}
		r.check("GetVolume group members", nil, sameGroup, volSummary(members))
		secondVolume, _ := client.GetVolume("", second.ID, "", "", false)
		for _, m := range append(members, secondVolume...) {
			v := goscaleio.NewVolume(client)
			v.Volume = m
			if err := v.RemoveVolume("ONLY_ME"); err != nil {
				r.check("RemoveVolume group member or second volume", err, false, m.ID)
			}
		}
	}

	err = volume.SetVolumeSize("24")
	grown := refresh()
	r.check("SetVolumeSize 24 GiB", err, grown.SizeInKb == 24*gib, fmt.Sprintf("sizeInKb %d", grown.SizeInKb))
	err = volume.SetVolumeSize("8")
	r.refused("SetVolumeSize shrink", err, 500, 133, "Volume capacity can only be increased")

	renamed := name + "-r"
	err = volume.SetVolumeName(renamed)
	vols, _ = pool.GetVolume("", "", "", renamed, false)
	r.check("SetVolumeName", err, len(vols) == 1 && vols[0].ID == id, volSummary(vols))
	err = volume.SetVolumeName(name + "-snap")
	r.refused("SetVolumeName to a snapshot's name", err, 500, 99, "Volume name already in use. Please use a different name.")

	volumeStats, err := volume.GetVolumeStatistics()
	r.check("GetVolumeStatistics", err, volumeStats != nil && volumeStats.NumOfMappedSdcs == 0, fmt.Sprintf("%+v", volumeStats))
	systemStats, err := system.GetStatistics()
	r.check("System GetStatistics", err, systemStats != nil && systemStats.NumOfVolumes >= 2 && systemStats.NumOfSdc == 2 &&
		systemStats.CapacityLimitInKb == *capacityKiB, statsSummary(systemStats))
	poolStatistics, err := pool.GetStatistics()
	r.check("StoragePool GetStatistics", err, poolStatistics != nil && poolStatistics.MaxCapacityInKb == *capacityKiB &&
		poolStatistics.CapacityAvailableForVolumeAllocationInKb <= *capacityKiB-32*gib, statsSummary(poolStatistics))

	if *idle > 0 {
		before, errBefore := readPoolStats(*endpoint, *user, *password, *insecure, *caFile)
		time.Sleep(*idle + 500*time.Millisecond)
		sdcs, err = system.GetSdc()
		after, errAfter := readPoolStats(*endpoint, *user, *password, *insecure, *caFile)
		if errBefore != nil || errAfter != nil {
			r.fail("re-login after token expiry", "cannot read /pool/stats: %v %v", errBefore, errAfter)
		} else {
			r.check("re-login after token expiry", err, len(sdcs) == 2 && after.Logins == before.Logins+1 && after.Unauthorized == before.Unauthorized+1,
				fmt.Sprintf("GetSdc after %s idle: %d SDC(s), logins %d -> %d, 401s %d -> %d", *idle, len(sdcs), before.Logins, after.Logins, before.Unauthorized, after.Unauthorized))
		}
	}

	snapshot := goscaleio.NewVolume(client)
	if len(snaps) == 1 {
		snapshot.Volume = snaps[0]
	}
	err = snapshot.RemoveVolume("ONLY_ME")
	_, gone := client.GetVolume("", snapID, "", "", false)
	r.check("RemoveVolume snapshot", err, isCode(gone, 79), fmt.Sprintf("then GetVolume: %v", gone))
	err = volume.RemoveVolume("ONLY_ME")
	_, gone = client.GetVolume("", id, "", "", false)
	r.check("RemoveVolume", err, isCode(gone, 79), fmt.Sprintf("then GetVolume: %v", gone))
}

func isCode(err error, code int) bool {
	var gw *types.Error
	return errors.As(err, &gw) && gw.ErrorCode == code
}

// readPoolStats reads the pool's counters (its admin endpoint, Basic user:password): outside the gateway API.
func readPoolStats(endpoint, user, password string, insecure bool, caFile string) (poolStats, error) {
	var stats poolStats
	httpClient, err := statsClient(insecure, caFile)
	if err != nil {
		return stats, err
	}
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(endpoint, "/")+"/pool/stats", nil)
	if err != nil {
		return stats, err
	}
	req.SetBasicAuth(user, password)
	res, err := httpClient.Do(req)
	if err != nil {
		return stats, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return stats, fmt.Errorf("/pool/stats: HTTP %d", res.StatusCode)
	}
	return stats, json.NewDecoder(res.Body).Decode(&stats)
}

func idOf(s *goscaleio.System) string {
	if s == nil {
		return "<none>"
	}
	return s.System.ID
}

func nameOf(s *goscaleio.System) string {
	if s == nil {
		return ""
	}
	return s.System.Name
}

func spID(sp *types.StoragePool) string {
	if sp == nil {
		return "<none>"
	}
	return sp.ID
}

func respID(v *types.VolumeResp) string {
	if v == nil {
		return "<none>"
	}
	return v.ID
}

func short(pd *types.ProtectionDomain) map[string]string {
	if pd == nil {
		return nil
	}
	return map[string]string{"id": pd.ID, "name": pd.Name}
}

func volSummary(vols []*types.Volume) string {
	parts := make([]string, 0, len(vols))
	for _, v := range vols {
		parts = append(parts, fmt.Sprintf("%s %q %s %d KiB ancestor %q", v.ID, v.Name, v.VolumeType, v.SizeInKb, v.AncestorVolumeID))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

func sdcSummary(s *goscaleio.Sdc) string {
	if s == nil {
		return "<none>"
	}
	return fmt.Sprintf("%s %q %s %s", s.Sdc.ID, s.Sdc.Name, s.Sdc.SdcGUID, s.Sdc.MdmConnectionState)
}

func mappings(v *types.Volume) string {
	parts := make([]string, 0, len(v.MappedSdcInfo))
	for _, m := range v.MappedSdcInfo {
		parts = append(parts, fmt.Sprintf("%s iops %d bw %d MB/s", m.SdcID, m.LimitIops, m.LimitBwInMbps))
	}
	return fmt.Sprintf("mapped to %d: [%s]", len(v.MappedSdcInfo), strings.Join(parts, "; "))
}

func statsSummary(s *types.Statistics) string {
	if s == nil {
		return "<none>"
	}
	return fmt.Sprintf("numOfVolumes %d numOfSdc %d maxCapacityInKb %d capacityLimitInKb %d availableForAllocation %d",
		s.NumOfVolumes, s.NumOfSdc, s.MaxCapacityInKb, s.CapacityLimitInKb, s.CapacityAvailableForVolumeAllocationInKb)
}
