// A grpc-gateway (the v1 generator and runtime packaged by Debian) in front of the same
// yw-catalog, so bench/run.sh can put a well-known JSON transcoder beside yw-gateway.
// Benchmarks only; built by bench/run.sh into a temporary folder.
//
// Usage: ywgw LISTEN_ADDR CATALOG_ADDR
package main

import (
	"context"
	"net/http"
	"os"

	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	"google.golang.org/grpc"

	pb "ywgw/catalogpb/yiwang/catalog/v1"
)

func main() {
	ctx := context.Background()
	// lowerCamelCase names, as yw-gateway writes them
	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard,
		&runtime.JSONPb{OrigName: false}))
	opts := []grpc.DialOption{grpc.WithInsecure()}
	if err := pb.RegisterCatalogServiceHandlerFromEndpoint(ctx, mux, os.Args[2], opts); err != nil {
		panic(err)
	}
	if err := http.ListenAndServe(os.Args[1], mux); err != nil {
		panic(err)
	}
}
