// Package pb holds gl-signerd's own protobuf definitions of the Greenlight
// node and scheduler APIs (a wire-compatible subset of Blockstream's) and
// the Go code generated from them. The generated code is committed, so a
// build needs no protoc.
//
// To regenerate after editing a .proto file (tool versions are pinned to
// match google.golang.org/protobuf and google.golang.org/grpc in go.mod):
//
//	apt-get install -y protobuf-compiler   # protoc 3.21.12 was used
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.33.0
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.3.0
//	go generate ./streamer/pb/
package pb

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative greenlight/greenlight.proto
//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative scheduler/scheduler.proto
