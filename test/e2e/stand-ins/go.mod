// Stand-ins for two CSI sidecars whose modules the Go module proxy reachable here does not serve
// (github.com/kubernetes-csi/node-driver-registrar and .../livenessprobe answer 403). They do the one job each sidecar
// does for the end-to-end cluster, with the same flags the chart passes. A real cluster uses the upstream images.
module ferry.local/e2e-stand-ins

go 1.24

require (
	github.com/container-storage-interface/spec v1.12.0
	google.golang.org/grpc v1.75.0
	k8s.io/kubelet v0.36.3
)
