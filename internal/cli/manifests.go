package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/pki"
)

// ManifestsOptions are the options of `upisim manifests`.
type ManifestsOptions struct {
	// DataDir is where the network's CA, node certificates and admin
	// token are made (kept if there): the nodes' Secrets carry them.
	DataDir     string
	NetworkFile string
	// Out is a folder to write upisim.yaml to (mode 0600: it holds the
	// nodes' keys); "" writes to stdout.
	Out       string
	Image     string
	Namespace string
}

// The ports every node's pod serves, and where its files are.
const (
	K8sGRPCPort    = 7000
	K8sHTTPPort    = 8080
	k8sNetworkFile = "/etc/upisim/network.yaml"
	k8sDataDir     = "/data"
	k8sSecretDir   = "/secret"
	// K8sNetworkKey is the ConfigMap's key of the network file.
	K8sNetworkKey = "network.yaml"
	// k8sInitImage copies a node's Secret into its data folder with the
	// modes upisim requires (the pki folder 0700, files 0600), since a
	// Secret volume is read-only and upisim locks and checks DATA/pki.
	k8sInitImage = "busybox:1.37"
)

// K8sNames are the Kubernetes names of a node: its StatefulSet and
// headless Service (Name), its gRPC and HTTP Services and its Secret.
type K8sNames struct{ Name, GRPC, HTTP, Secret string }

var dnsUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// K8sNamesOf are the names of node in Kubernetes: DNS labels made of its
// name.
func K8sNamesOf(node string) K8sNames {
	n := strings.Trim(dnsUnsafe.ReplaceAllString(strings.ToLower(node), "-"), "-")
	return K8sNames{Name: n, GRPC: n + "-grpc", HTTP: n + "-http", Secret: n + "-pki"}
}

// Manifests writes the Kubernetes manifests of a network file: a
// Namespace, a ConfigMap with the network file (every node's address its
// Services' DNS names, http.listen_any on), and per node a Secret (ca.pem,
// its own certificate and key, the admin token; the CA's key stays in
// DATA/pki), a StatefulSet of one pod with a volume for its bbolt file,
// and a headless Service and Services for gRPC and HTTP. They are built
// from the k8s.io/api types, so they are well formed by construction.
func Manifests(_ context.Context, w io.Writer, o ManifestsOptions) error {
	if o.DataDir == "" {
		return fmt.Errorf("missing --data")
	}
	if o.Namespace == "" {
		o.Namespace = "upisim"
	}
	if o.Image == "" {
		o.Image = "upisim:latest"
	}
	if errs := dnsLabel(o.Namespace); errs != "" {
		return fmt.Errorf("--namespace %q: %s", o.Namespace, errs)
	}
	netw, err := config.Load(o.NetworkFile)
	if err != nil {
		return err
	}
	if netw.Insecure() {
		return fmt.Errorf("the network file has tls: off: nodes on many hosts need mutual TLS (tls: on)")
	}
	netw = netw.Clone()
	seen := map[string]string{}
	var hosts []string
	for i := range netw.Nodes {
		nd := &netw.Nodes[i]
		k := K8sNamesOf(nd.Name)
		if k.Name == "" || len(k.Name) > 50 {
			return fmt.Errorf("node %q: its name makes no Kubernetes name of 1 to 50 letters, digits and '-'", nd.Name)
		}
		if other, ok := seen[k.Name]; ok {
			return fmt.Errorf("nodes %q and %q have the same Kubernetes name %q", other, nd.Name, k.Name)
		}
		seen[k.Name] = nd.Name
		svc := func(s string) string { return s + "." + o.Namespace + ".svc.cluster.local" }
		nd.GRPCAddr = fmt.Sprintf("%s:%d", svc(k.GRPC), K8sGRPCPort)
		nd.HTTPAddr = fmt.Sprintf("%s:%d", svc(k.HTTP), K8sHTTPPort)
		hosts = append(hosts, svc(k.GRPC), k.GRPC, k.GRPC+"."+o.Namespace)
		netw.HTTP.AllowedHosts = append(netw.HTTP.AllowedHosts, k.HTTP, k.HTTP+"."+o.Namespace, k.HTTP+"."+o.Namespace+".svc")
	}
	netw.TLS = config.TLSOn
	netw.HTTP.ListenAny = true
	if err := netw.Validate(); err != nil {
		return err
	}
	raw, err := netw.Marshal()
	if err != nil {
		return err
	}

	// The certificates name the gRPC Services the peers dial.
	dir := pki.DirOf(o.DataDir)
	ids := make([]pki.Identity, len(netw.Nodes))
	for i, nd := range netw.Nodes {
		ids[i] = pki.Identity{Network: netw.Name, Node: nd.Name, Role: nd.Role}
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return err
	}
	if err := pki.Ensure(dir, netw.Name, ids, pki.WithHosts(hosts...)); err != nil {
		return err
	}
	// A certificate kept from before (a local `upisim up` in the same
	// folder) may not name the Services: the peers would refuse it.
	for _, nd := range netw.Nodes {
		creds, err := pki.Load(dir, netw.Name, nd.Name)
		if err != nil {
			return err
		}
		host := K8sNamesOf(nd.Name).GRPC + "." + o.Namespace + ".svc.cluster.local"
		if err := creds.Cert.Leaf.VerifyHostname(host); err != nil {
			return fmt.Errorf("%s does not name %s, which its peers dial: make the cluster's certificates in a new --data folder", filepath.Join(dir, pki.CertFile(nd.Name)), host)
		}
	}
	if _, err := cluster.EnsureAdminToken(o.DataDir); err != nil {
		return err
	}

	labels := func(node string) map[string]string {
		return map[string]string{"app.kubernetes.io/name": "upisim", "app.kubernetes.io/instance": netw.Name, "upisim.dev/node": node}
	}
	meta := func(name string, l map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: o.Namespace, Labels: l}
	}
	objs := []any{
		&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: o.Namespace}},
		&corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: meta("upisim-network", labels("")),
			Data: map[string]string{K8sNetworkKey: string(raw)}},
	}
	for _, nd := range netw.Nodes {
		k, l := K8sNamesOf(nd.Name), labels(nd.Name)
		files := map[string][]byte{}
		for _, f := range []string{pki.CAFile, pki.CertFile(nd.Name), pki.KeyFile(nd.Name)} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				return err
			}
			files[f] = b
		}
		tokenOnDisk, err := os.ReadFile(filepath.Join(o.DataDir, cluster.AdminTokenFile))
		if err != nil {
			return err
		}
		files[cluster.AdminTokenFile] = tokenOnDisk
		objs = append(objs,
			&corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: meta(k.Secret, l),
				Type: corev1.SecretTypeOpaque, Data: files},
			headlessService(meta(k.Name, l), l),
			service(meta(k.GRPC, l), l, "grpc", K8sGRPCPort),
			service(meta(k.HTTP, l), l, "http", K8sHTTPPort),
			statefulSet(meta(k.Name, l), l, k, nd.Name, o.Image))
	}

	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# upisim manifests of network %q: kubectl apply -f this file.\n# It holds the nodes' private keys (Secrets): keep it like a key.\n", netw.Name)
	for i, obj := range objs {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(b)
	}
	if o.Out == "" {
		_, err := w.Write(buf.Bytes())
		return err
	}
	if err := os.MkdirAll(o.Out, 0o700); err != nil {
		return err
	}
	path := filepath.Join(o.Out, "upisim.yaml")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s (%d nodes): kubectl apply -f %s\n", path, len(netw.Nodes), path)
	return nil
}

func dnsLabel(s string) string {
	if s == "" || len(s) > 63 || s != strings.Trim(dnsUnsafe.ReplaceAllString(s, "-"), "-") {
		return "want a DNS label: lowercase letters, digits and '-', at most 63"
	}
	return ""
}

// headlessService is the StatefulSet's governing Service: a stable DNS
// name per pod, with the pod's address published before it is ready.
func headlessService(m metav1.ObjectMeta, sel map[string]string) *corev1.Service {
	return &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: m,
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: sel, PublishNotReadyAddresses: true,
			Ports: []corev1.ServicePort{
				{Name: "grpc", Port: K8sGRPCPort, TargetPort: intstr.FromString("grpc"), AppProtocol: ptr("grpc")},
				{Name: "http", Port: K8sHTTPPort, TargetPort: intstr.FromString("http")}}}}
}

// service is a ClusterIP Service of one port of a node: in-cluster only.
// Its DNS name is the node's address in the network file.
func service(m metav1.ObjectMeta, sel map[string]string, port string, n int32) *corev1.Service {
	p := corev1.ServicePort{Name: port, Port: n, TargetPort: intstr.FromString(port), Protocol: corev1.ProtocolTCP}
	if port == "grpc" {
		p.AppProtocol = ptr("grpc")
	}
	return &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: m,
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: sel, Ports: []corev1.ServicePort{p}}}
}

// statefulSet runs one node: one replica, its data folder a
// PersistentVolumeClaim (the bbolt file must outlive the pod).
//
// The probes are exec probes running `upisim probe`: Kubernetes' own grpc
// probe speaks no TLS, and the node serves only mutual TLS, so the probe
// asks the node's grpc.health.v1 over TLS verified against ca.pem, on
// 127.0.0.1 (the node listens on every interface). The node is
// NOT_SERVING while it starts and drains, so it is not ready then.
func statefulSet(m metav1.ObjectMeta, sel map[string]string, k K8sNames, node, image string) *appsv1.StatefulSet {
	probe := func(period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"upisim", "probe",
				"--data", k8sDataDir, "--addr", fmt.Sprintf("127.0.0.1:%d", K8sGRPCPort)}}},
			PeriodSeconds: period, TimeoutSeconds: 5, FailureThreshold: failures,
		}
	}
	startup := probe(2, 60) // up to 2 minutes to open the store and seed
	copyPKI := fmt.Sprintf("set -e; mkdir -p %[1]s/pki; chmod 0700 %[1]s/pki; "+
		"cp %[2]s/%[3]s %[2]s/%[4]s %[2]s/%[5]s %[1]s/pki/; chmod 0600 %[1]s/pki/*; "+
		"cp %[2]s/%[6]s %[1]s/%[6]s; chmod 0600 %[1]s/%[6]s",
		k8sDataDir, k8sSecretDir, pki.CAFile, pki.CertFile(node), pki.KeyFile(node), cluster.AdminTokenFile)
	dataMount := corev1.VolumeMount{Name: "data", MountPath: k8sDataDir}
	return &appsv1.StatefulSet{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"}, ObjectMeta: m,
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr(int32(1)), ServiceName: k.Name,
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr(int64(30)),
					InitContainers: []corev1.Container{{
						Name: "pki", Image: k8sInitImage, Command: []string{"sh", "-c", copyPKI},
						VolumeMounts: []corev1.VolumeMount{dataMount, {Name: "secret", MountPath: k8sSecretDir, ReadOnly: true}},
					}},
					Containers: []corev1.Container{{
						Name: "node", Image: image,
						Command: []string{"upisim", "node", "--network", k8sNetworkFile, "--name", node, "--data", k8sDataDir, "--log-level", "info"},
						Ports: []corev1.ContainerPort{
							{Name: "grpc", ContainerPort: K8sGRPCPort, Protocol: corev1.ProtocolTCP},
							{Name: "http", ContainerPort: K8sHTTPPort, Protocol: corev1.ProtocolTCP}},
						StartupProbe:   startup,
						ReadinessProbe: probe(5, 2),
						LivenessProbe:  probe(10, 3),
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}},
						VolumeMounts: []corev1.VolumeMount{dataMount, {Name: "network", MountPath: filepath.Dir(k8sNetworkFile), ReadOnly: true}},
					}},
					Volumes: []corev1.Volume{
						{Name: "network", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: "upisim-network"}}}},
						{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
							SecretName: k.Secret, DefaultMode: ptr(int32(0o400))}}},
					},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
				ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: sel},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// ProbeOptions are the options of `upisim probe`.
type ProbeOptions struct {
	DataDir string
	Addr    string
	Timeout time.Duration
}

// Probe asks the node at Addr its grpc.health.v1 status over TLS verified
// against DATA/pki/ca.pem (no client certificate) and succeeds only when
// it is SERVING: a Kubernetes exec probe (Kubernetes' grpc probe has no
// TLS).
func Probe(ctx context.Context, w io.Writer, o ProbeOptions) error {
	if o.DataDir == "" || o.Addr == "" {
		return fmt.Errorf("missing --data or --addr")
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	cfg, err := pki.AppClientTLS(pki.DirOf(o.DataDir))
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(o.Addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("node at %s: %w", o.Addr, err)
	}
	if r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("node at %s is %s", o.Addr, r.GetStatus())
	}
	fmt.Fprintf(w, "node at %s is SERVING\n", o.Addr)
	return nil
}
