package main

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/upisim/upisim/internal/cli"
)

// hostsCommands are the commands for a network on many hosts (issue 13,
// item 7): `upisim manifests` writes its Kubernetes manifests, and
// `upisim probe` is the pods' health probe.
func hostsCommands() []spec {
	var (
		mf cli.ManifestsOptions
		pr cli.ProbeOptions
	)
	return []spec{{
		use:   "manifests",
		short: "Write Kubernetes manifests of a network file: a StatefulSet, Services and a Secret per node, a ConfigMap with the network file",
		long: `Write Kubernetes manifests of a network file. Each node's address becomes its
Services' DNS names (NODE-grpc, NODE-http in the namespace), http.listen_any is
turned on (TLS stays on), and the CA and node certificates naming those names are
made in DATA/pki (kept if there), with the admin token in DATA: each node's
Secret holds ca.pem, its own certificate and key and the token, never the CA's
key. The output holds private keys: keep it like one.`,
		example: "  upisim manifests --network net.yaml --data k8s-pki --image registry.example/upisim:v1 > upisim.yaml\n  kubectl apply -f upisim.yaml",
		data:    &mf.DataDir,
		flags: func(f *pflag.FlagSet) {
			f.StringVar(&mf.NetworkFile, "network", "", "network file (YAML); the embedded default network when empty")
			f.StringVar(&mf.Out, "out", "", "folder to write upisim.yaml to (mode 0600); stdout when empty")
			f.StringVar(&mf.Image, "image", "upisim:latest", "container image with upisim on its PATH")
			f.StringVar(&mf.Namespace, "namespace", "upisim", "Kubernetes namespace of the network")
		},
		run: call(cli.Manifests, &mf),
	}, {
		use:   "probe",
		short: "Exit 0 if the node at --addr is SERVING (grpc.health.v1 over TLS): a Kubernetes exec probe",
		data:  &pr.DataDir,
		flags: func(f *pflag.FlagSet) {
			f.StringVar(&pr.Addr, "addr", "", "the node's gRPC address, e.g. 127.0.0.1:7000")
			f.DurationVar(&pr.Timeout, "timeout", 3*time.Second, "how long to wait for the answer")
		},
		run: call(cli.Probe, &pr),
	}}
}
