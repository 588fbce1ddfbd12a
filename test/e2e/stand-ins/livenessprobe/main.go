// livenessprobe stand-in: answers /healthz by calling the driver's CSI Probe, as the upstream sidecar does.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	csiAddress := flag.String("csi-address", "/csi/csi.sock", "the driver's socket")
	endpoint := flag.String("http-endpoint", ":9808", "where to serve /healthz")
	timeout := flag.Duration("probe-timeout", time.Second, "bound on one Probe")
	flag.Int("v", 0, "ignored")
	flag.Parse()
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		conn, err := grpc.NewClient("unix://"+*csiAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(r.Context(), *timeout)
		defer cancel()
		res, err := csi.NewIdentityClient(conn).Probe(ctx, &csi.ProbeRequest{})
		if err != nil || (res.GetReady() != nil && !res.GetReady().GetValue()) {
			http.Error(w, "not ready", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	log.Printf("serving /healthz at %s", *endpoint)
	log.Fatal(http.ListenAndServe(*endpoint, nil))
}
