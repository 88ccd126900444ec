package hsmproto

//go:generate go run ./internal/gen -in messages.tbl -out messages_gen.go
