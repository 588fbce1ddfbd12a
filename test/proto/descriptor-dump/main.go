// Command descriptor-dump prints the FileDescriptorProto that the official CSI
// Go bindings were generated from, as protojson, so that the jest test
// test/proto/wire-identity.test.ts can compare proto/csi.proto against it.
//
// The csi package registers its extensions (csi_secret, alpha_field, ...) in
// the global registry, so protojson prints them inside the options messages as
// "[csi.v1.csi_secret]" keys.
package main

import (
	"fmt"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protodesc"
)

func main() {
	fdp := protodesc.ToFileDescriptorProto(csi.File_csi_proto)
	out, err := protojson.MarshalOptions{
		UseProtoNames:   true,
		EmitUnpopulated: false,
		Multiline:       true,
		Indent:          "  ",
	}.Marshal(fdp)
	if err != nil {
		fmt.Fprintf(os.Stderr, "descriptor-dump: marshal: %v\n", err)
		os.Exit(1)
	}
	if _, err := os.Stdout.Write(append(out, '\n')); err != nil {
		fmt.Fprintf(os.Stderr, "descriptor-dump: write: %v\n", err)
		os.Exit(1)
	}
}
