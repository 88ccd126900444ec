package main

import "runtime/debug"

// version is gl-signerd's version, set at build time with
// -ldflags "-X main.version=v1.2.3"; otherwise the module version, or
// "devel".
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
