// csi-node-driver-registrar stand-in: registers the CSI driver with the kubelet through the plugin registration API
// (k8s.io/kubelet/pkg/apis/pluginregistration/v1), as the upstream sidecar does. Flags as the chart passes them.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

type registration struct {
	registerapi.UnimplementedRegistrationServer
	driver, endpoint string
}

func (r *registration) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{Type: registerapi.CSIPlugin, Name: r.driver, Endpoint: r.endpoint, SupportedVersions: []string{"1.0.0"}}, nil
}

func (r *registration) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if !s.PluginRegistered {
		// As upstream: a failed registration restarts the container, so the kubelet tries again.
		log.Printf("registration failed: %s", s.Error)
		os.Exit(1)
	}
	log.Printf("registered with the kubelet")
	return &registerapi.RegistrationStatusResponse{}, nil
}

func driverName(csiAddress string) string {
	for {
		conn, err := grpc.NewClient("unix://"+csiAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			info, err := csi.NewIdentityClient(conn).GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
			cancel()
			conn.Close()
			if err == nil {
				return info.GetName()
			}
			log.Printf("GetPluginInfo: %v", err)
		}
		time.Sleep(time.Second)
	}
}

func main() {
	csiAddress := flag.String("csi-address", "/csi/csi.sock", "the driver's socket in this container")
	kubeletPath := flag.String("kubelet-registration-path", "", "the driver's socket as the kubelet sees it")
	registrationDir := flag.String("plugin-registration-path", "/registration", "the kubelet's plugins_registry")
	flag.String("http-endpoint", "", "ignored")
	flag.Int("v", 0, "ignored")
	flag.Parse()
	if *kubeletPath == "" {
		log.Fatal("--kubelet-registration-path is required")
	}
	driver := driverName(*csiAddress)
	socket := filepath.Join(*registrationDir, driver+"-reg.sock")
	_ = os.Remove(socket)
	lis, err := net.Listen("unix", socket)
	if err != nil {
		log.Fatalf("listen %s: %v", socket, err)
	}
	server := grpc.NewServer()
	registerapi.RegisterRegistrationServer(server, &registration{driver: driver, endpoint: *kubeletPath})
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		server.Stop()
		_ = os.Remove(socket)
		os.Exit(0)
	}()
	log.Printf("serving registration for %s at %s", driver, socket)
	if err := server.Serve(lis); err != nil {
		log.Fatal(err)
	}
}
