// Command openapi-pb turns the Kubernetes OpenAPI v2 document (JSON) into the protobuf form kubectl downloads from
// /openapi/v2, so the chart test's offline API stub can serve it and kubectl validates objects client-side.
package main

import (
	"fmt"
	"os"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: openapi-pb SWAGGER.json OUT.pb")
		os.Exit(2)
	}
	in, err := os.ReadFile(os.Args[1])
	if err == nil {
		var doc *openapi_v2.Document
		if doc, err = openapi_v2.ParseDocument(in); err == nil {
			var out []byte
			if out, err = proto.Marshal(doc); err == nil {
				err = os.WriteFile(os.Args[2], out, 0o644)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapi-pb:", err)
		os.Exit(1)
	}
}
