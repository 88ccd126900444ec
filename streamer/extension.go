package streamer

import "fmt"

// Messages on the stream that are not CLN hsmd requests.
//
// Greenlight's node plugin (libs/gl-plugin/src/node/mod.rs,
// stream_hsm_requests) opens every new stream with request_id 0 carrying
// VLS's GetHeartbeat and the full signer state; it ignores the reply's raw
// bytes and merges the reply's state. Its hsmd proxy answers
// hsmd_client_hsmfd (9), hsmd_check_pubkey (28), hsmd_init (11),
// dev_memleak (33) and the stashed startup messages itself, so those reach
// a signer only if a node chooses to forward them; they are hsmd messages
// and go to the handler like any other.
const (
	typeGetHeartbeat      = 2008 // vls-protocol GetHeartbeat
	typeGetHeartbeatReply = 2108 // vls-protocol GetHeartbeatReply { heartbeat: u16-length bytes }

	// CLN's hsmd requests are numbered below 1000 (hsmd_wire.csv); VLS and
	// LDK extensions live above. We answer the heartbeat and decline the
	// rest without involving the engine.
	firstExtensionType = 1000
)

// heartbeatReply is a GetHeartbeatReply with an empty heartbeat: we do not
// run VLS's chain tracker, so there is no signed chain heartbeat to give,
// and the node does not read it.
var heartbeatReply = []byte{typeGetHeartbeatReply >> 8, typeGetHeartbeatReply & 0xff, 0, 0}

// errDeclined reports an extension message we do not implement.
func errDeclined(typ uint16) error {
	return fmt.Errorf("message type %d is not a CLN hsmd request; this signer does not implement VLS/LDK extensions", typ)
}
