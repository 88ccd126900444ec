package pb_test

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "gl-signerd/streamer/pb/greenlight"
	_ "gl-signerd/streamer/pb/scheduler"
)

// The wire contract with Greenlight, transcribed from Blockstream/greenlight
// libs/proto/glclient/{greenlight,scheduler}.proto at commit
// 276943c29d005794bc7935f3fcae0e4f6c0308d9: every field we declare must keep
// this name, number and kind, and every message must declare all of them.
var wireFields = map[string][]struct {
	name   string
	number protoreflect.FieldNumber
	kind   protoreflect.Kind
	list   bool
	elem   string // message or enum type of the field, if any
}{
	"greenlight.HsmRequestContext": {
		{"node_id", 1, protoreflect.BytesKind, false, ""},
		{"dbid", 2, protoreflect.Uint64Kind, false, ""},
		{"capabilities", 3, protoreflect.Uint64Kind, false, ""},
	},
	"greenlight.HsmResponse": {
		{"request_id", 1, protoreflect.Uint32Kind, false, ""},
		{"raw", 2, protoreflect.BytesKind, false, ""},
		{"signer_state", 5, protoreflect.MessageKind, true, "greenlight.SignerStateEntry"},
		{"error", 6, protoreflect.StringKind, false, ""},
	},
	"greenlight.HsmRequest": {
		{"request_id", 1, protoreflect.Uint32Kind, false, ""},
		{"context", 2, protoreflect.MessageKind, false, "greenlight.HsmRequestContext"},
		{"raw", 3, protoreflect.BytesKind, false, ""},
		{"signer_state", 4, protoreflect.MessageKind, true, "greenlight.SignerStateEntry"},
		{"requests", 5, protoreflect.MessageKind, true, "greenlight.PendingRequest"},
	},
	"greenlight.Empty": {},
	"greenlight.SignerStateEntry": {
		{"version", 1, protoreflect.Uint64Kind, false, ""},
		{"key", 2, protoreflect.StringKind, false, ""},
		{"value", 3, protoreflect.BytesKind, false, ""},
		{"signature", 4, protoreflect.BytesKind, false, ""},
	},
	"greenlight.PendingRequest": {
		{"request", 1, protoreflect.BytesKind, false, ""},
		{"uri", 2, protoreflect.StringKind, false, ""},
		{"signature", 3, protoreflect.BytesKind, false, ""},
		{"pubkey", 4, protoreflect.BytesKind, false, ""},
		{"timestamp", 5, protoreflect.Uint64Kind, false, ""},
		{"rune", 6, protoreflect.BytesKind, false, ""},
	},
	"scheduler.ChallengeRequest": {
		{"scope", 1, protoreflect.EnumKind, false, "scheduler.ChallengeScope"},
		{"node_id", 2, protoreflect.BytesKind, false, ""},
	},
	"scheduler.ChallengeResponse": {
		{"challenge", 1, protoreflect.BytesKind, false, ""},
	},
	"scheduler.RegistrationRequest": {
		{"node_id", 1, protoreflect.BytesKind, false, ""},
		{"bip32_key", 2, protoreflect.BytesKind, false, ""},
		{"startupmsgs", 3, protoreflect.MessageKind, true, "scheduler.StartupMessage"},
		{"network", 4, protoreflect.StringKind, false, ""},
		{"challenge", 5, protoreflect.BytesKind, false, ""},
		{"signature", 6, protoreflect.BytesKind, false, ""},
		{"signer_proto", 7, protoreflect.StringKind, false, ""},
		{"init_msg", 8, protoreflect.BytesKind, false, ""},
		{"csr", 9, protoreflect.BytesKind, false, ""},
		{"invite_code", 10, protoreflect.StringKind, false, ""},
	},
	"scheduler.RegistrationResponse": {
		{"device_cert", 1, protoreflect.StringKind, false, ""},
		{"device_key", 2, protoreflect.StringKind, false, ""},
		{"rune", 3, protoreflect.StringKind, false, ""},
		{"creds", 4, protoreflect.BytesKind, false, ""},
	},
	"scheduler.ScheduleRequest": {
		{"node_id", 1, protoreflect.BytesKind, false, ""},
	},
	"scheduler.NodeInfoRequest": {
		{"node_id", 1, protoreflect.BytesKind, false, ""},
		{"wait", 2, protoreflect.BoolKind, false, ""},
	},
	"scheduler.NodeInfoResponse": {
		{"node_id", 1, protoreflect.BytesKind, false, ""},
		{"grpc_uri", 2, protoreflect.StringKind, false, ""},
		{"session_id", 3, protoreflect.Uint64Kind, false, ""},
	},
	"scheduler.RecoveryRequest": {
		{"challenge", 1, protoreflect.BytesKind, false, ""},
		{"signature", 2, protoreflect.BytesKind, false, ""},
		{"node_id", 3, protoreflect.BytesKind, false, ""},
		{"csr", 9, protoreflect.BytesKind, false, ""},
	},
	"scheduler.RecoveryResponse": {
		{"device_cert", 1, protoreflect.StringKind, false, ""},
		{"device_key", 2, protoreflect.StringKind, false, ""},
		{"rune", 3, protoreflect.StringKind, false, ""},
		{"creds", 4, protoreflect.BytesKind, false, ""},
	},
	"scheduler.UpgradeRequest": {
		{"signer_version", 1, protoreflect.StringKind, false, ""},
		{"initmsg", 2, protoreflect.BytesKind, false, ""},
		{"startupmsgs", 3, protoreflect.MessageKind, true, "scheduler.StartupMessage"},
	},
	"scheduler.UpgradeResponse": {
		{"old_version", 1, protoreflect.StringKind, false, ""},
	},
	"scheduler.StartupMessage": {
		{"request", 1, protoreflect.BytesKind, false, ""},
		{"response", 2, protoreflect.BytesKind, false, ""},
	},
	"scheduler.SignerRejection": {
		{"msg", 1, protoreflect.StringKind, false, ""},
		{"request", 2, protoreflect.MessageKind, false, "greenlight.HsmRequest"},
		{"git_version", 3, protoreflect.StringKind, false, ""},
		{"node_id", 4, protoreflect.BytesKind, false, ""},
	},
}

// The gRPC methods we call or serve, as full paths with their types.
var wireMethods = []struct {
	service, method, in, out string
	serverStreaming          bool
}{
	{"scheduler.Scheduler", "Register", "scheduler.RegistrationRequest", "scheduler.RegistrationResponse", false},
	{"scheduler.Scheduler", "Recover", "scheduler.RecoveryRequest", "scheduler.RecoveryResponse", false},
	{"scheduler.Scheduler", "GetChallenge", "scheduler.ChallengeRequest", "scheduler.ChallengeResponse", false},
	{"scheduler.Scheduler", "Schedule", "scheduler.ScheduleRequest", "scheduler.NodeInfoResponse", false},
	{"scheduler.Scheduler", "GetNodeInfo", "scheduler.NodeInfoRequest", "scheduler.NodeInfoResponse", false},
	{"scheduler.Scheduler", "MaybeUpgrade", "scheduler.UpgradeRequest", "scheduler.UpgradeResponse", false},
	{"scheduler.Debug", "ReportSignerRejection", "scheduler.SignerRejection", "greenlight.Empty", false},
	{"greenlight.Node", "StreamHsmRequests", "greenlight.Empty", "greenlight.HsmRequest", true},
	{"greenlight.Node", "RespondHsmRequest", "greenlight.HsmResponse", "greenlight.Empty", false},
}

func TestWireCompatibleMessages(t *testing.T) {
	for name, want := range wireFields {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Errorf("message %s is not declared: %v", name, err)
			continue
		}
		md := d.(protoreflect.MessageDescriptor)
		if md.Fields().Len() != len(want) {
			t.Errorf("%s declares %d fields, the wire contract has %d", name, md.Fields().Len(), len(want))
		}
		for _, w := range want {
			f := md.Fields().ByNumber(w.number)
			if f == nil {
				t.Errorf("%s: field %d (%s) is missing", name, w.number, w.name)
				continue
			}
			if string(f.Name()) != w.name || f.Kind() != w.kind || f.IsList() != w.list {
				t.Errorf("%s field %d: got %s %v list=%v, want %s %v list=%v",
					name, w.number, f.Name(), f.Kind(), f.IsList(), w.name, w.kind, w.list)
			}
			elem := ""
			if f.Message() != nil {
				elem = string(f.Message().FullName())
			} else if f.Enum() != nil {
				elem = string(f.Enum().FullName())
			}
			if elem != w.elem {
				t.Errorf("%s field %d: type %q, want %q", name, w.number, elem, w.elem)
			}
		}
	}
}

func TestWireCompatibleEnum(t *testing.T) {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName("scheduler.ChallengeScope")
	if err != nil {
		t.Fatal(err)
	}
	ed := d.(protoreflect.EnumDescriptor)
	for name, num := range map[protoreflect.Name]protoreflect.EnumNumber{"REGISTER": 0, "RECOVER": 1} {
		v := ed.Values().ByName(name)
		if v == nil || v.Number() != num {
			t.Errorf("ChallengeScope.%s: want %d", name, num)
		}
	}
}

func TestWireCompatibleMethods(t *testing.T) {
	for _, w := range wireMethods {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(w.service))
		if err != nil {
			t.Errorf("service %s is not declared: %v", w.service, err)
			continue
		}
		m := d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(w.method))
		if m == nil {
			t.Errorf("%s.%s is not declared", w.service, w.method)
			continue
		}
		if string(m.Input().FullName()) != w.in || string(m.Output().FullName()) != w.out ||
			m.IsStreamingServer() != w.serverStreaming || m.IsStreamingClient() {
			t.Errorf("%s.%s: got (%s) -> (%s) serverStreaming=%v", w.service, w.method,
				m.Input().FullName(), m.Output().FullName(), m.IsStreamingServer())
		}
	}
}
