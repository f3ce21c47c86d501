// A grpc-gateway (the v1 generator and runtime packaged by Debian) in front of the same
// yw-catalog, so bench/run.sh can put a well-known JSON transcoder beside yw-gateway.
// Benchmarks only; built by bench/run.sh into a temporary folder.
//
// Usage: ywgw LISTEN_ADDR CATALOG_ADDR [CA CERT KEY]
// With CA, CERT and KEY it calls the catalog over mutual TLS, as yw-gateway does.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"

	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	pb "ywgw/catalogpb/yiwang/catalog/v1"
)

func main() {
	ctx := context.Background()
	// lowerCamelCase names, as yw-gateway writes them
	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard,
		&runtime.JSONPb{OrigName: false}))
	opts := []grpc.DialOption{grpc.WithInsecure()}
	if len(os.Args) == 6 {
		ca, err := os.ReadFile(os.Args[3])
		if err != nil {
			panic(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		cert, err := tls.LoadX509KeyPair(os.Args[4], os.Args[5])
		if err != nil {
			panic(err)
		}
		creds := credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert},
			ServerName: "localhost", MinVersion: tls.VersionTLS12})
		opts = []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	}
	if err := pb.RegisterCatalogServiceHandlerFromEndpoint(ctx, mux, os.Args[2], opts); err != nil {
		panic(err)
	}
	if err := http.ListenAndServe(os.Args[1], mux); err != nil {
		panic(err)
	}
}
