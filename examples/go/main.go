// blockstore from Go: upload, download, a typed error, and the change feed.
//
// Any gRPC client can speak blockstore's public API; this one uses grpc-go
// and the code protoc-gen-go and protoc-gen-go-grpc generate from the
// repository's protos (import path "blockstore/v1", the protos' go_package):
//
//	scripts/gen-go.sh build/go
//	GO111MODULE=off GOPATH=$PWD/build/go:/usr/share/gocode go build -o build/go/example ./examples/go
//	build/go/example 127.0.0.1:7000 "$(cat .cluster/user.token)" [PREFIX]
//
// It prints one line per step and exits 0 when every step did what it should.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	blockstorev1 "blockstore/v1"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func main() {
	if len(os.Args) < 3 {
		log.Fatalf("usage: %s ADDRESS TOKEN [PREFIX]", os.Args[0])
	}
	address, token := os.Args[1], os.Args[2]
	prefix := "go-example/"
	if len(os.Args) > 3 {
		prefix = os.Args[3]
	}
	conn, err := grpc.Dial(address, grpc.WithInsecure())
	if err != nil {
		log.Fatalf("dial %s: %v", address, err)
	}
	defer conn.Close()
	files := blockstorev1.NewFilesClient(conn)
	auth := func(parent context.Context) context.Context {
		return metadata.AppendToOutgoingContext(parent, "authorization", "Bearer "+token)
	}
	ctx, cancel := context.WithTimeout(auth(context.Background()), 60*time.Second)
	defer cancel()

	// 1. Upload: a header, then the bytes in messages of up to 256 KiB.
	data := make([]byte, 700_000)
	if _, err := rand.Read(data); err != nil {
		log.Fatal(err)
	}
	sum := sha256.Sum256(data)
	path := prefix + "hello.bin"
	up, err := files.PutFile(ctx)
	if err != nil {
		log.Fatalf("put: %v", err)
	}
	header := &blockstorev1.PutFileHeader{Path: path, IdempotencyKey: hex.EncodeToString(sum[:])}
	if err := up.Send(&blockstorev1.PutFileRequest{Msg: &blockstorev1.PutFileRequest_Header{Header: header}}); err != nil {
		log.Fatalf("put header: %v", err)
	}
	for off := 0; off < len(data); off += 256 * 1024 {
		end := off + 256*1024
		if end > len(data) {
			end = len(data)
		}
		if err := up.Send(&blockstorev1.PutFileRequest{Msg: &blockstorev1.PutFileRequest_Data{Data: data[off:end]}}); err != nil {
			log.Fatalf("put data: %v", err)
		}
	}
	put, err := up.CloseAndRecv()
	if err != nil {
		log.Fatalf("put: %v", err)
	}
	fmt.Printf("put %s version %d, %d bytes, sha256 %s…\n", put.File.Path, put.File.Version, put.File.Size, put.File.ContentHash[:16])

	// 2. Download: the file's info first, then its bytes.
	down, err := files.GetFile(ctx, &blockstorev1.GetFileRequest{Path: path})
	if err != nil {
		log.Fatalf("get: %v", err)
	}
	var got bytes.Buffer
	for {
		m, err := down.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatalf("get: %v", err)
		}
		got.Write(m.GetData())
	}
	if !bytes.Equal(got.Bytes(), data) {
		log.Fatalf("the downloaded bytes differ (%d of %d)", got.Len(), len(data))
	}
	fmt.Printf("get %s: the same %d bytes\n", path, got.Len())

	// 3. A typed error: the status code, and the stable reason in ErrorInfo.
	_, err = files.StatFile(ctx, &blockstorev1.StatFileRequest{Path: prefix + "no-such-file"})
	st, _ := status.FromError(err)
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	if err == nil || st.Code() != codes.NotFound || info == nil || info.Reason != "NOT_FOUND" {
		log.Fatalf("stat of a missing file: %v, ErrorInfo %v", err, info)
	}
	fmt.Printf("stat %sno-such-file: %s, reason %s (domain %s)\n", prefix, st.Code(), info.Reason, info.Domain)

	// 4. The change feed: history first, then live; a second upload arrives while we watch.
	wctx, wcancel := context.WithTimeout(auth(context.Background()), 30*time.Second)
	defer wcancel()
	feed, err := files.Watch(wctx, &blockstorev1.WatchRequest{Prefix: prefix})
	if err != nil {
		log.Fatalf("watch: %v", err)
	}
	second, err := files.PutFile(ctx)
	if err != nil {
		log.Fatalf("put: %v", err)
	}
	_ = second.Send(&blockstorev1.PutFileRequest{Msg: &blockstorev1.PutFileRequest_Header{Header: &blockstorev1.PutFileHeader{Path: prefix + "second.txt", IdempotencyKey: hex.EncodeToString(sum[:8]) + "-2"}}})
	_ = second.Send(&blockstorev1.PutFileRequest{Msg: &blockstorev1.PutFileRequest_Data{Data: []byte("written while watching")}})
	if _, err := second.CloseAndRecv(); err != nil {
		log.Fatalf("second put: %v", err)
	}
	for {
		ev, err := feed.Recv()
		if err != nil {
			log.Fatalf("the second upload never arrived on the feed: %v", err)
		}
		fmt.Printf("watch: %s %s v%d (cursor %d)\n", ev.Kind, ev.Path, ev.Version, ev.Cursor)
		if ev.Path == prefix+"second.txt" {
			break
		}
	}
	fmt.Println("ok")
}
