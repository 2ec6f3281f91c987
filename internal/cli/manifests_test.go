package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/upisim/upisim/internal/cluster"
	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/pki"
)

// k8sObjects decodes a multi-document manifest strictly into the
// k8s.io/api types: a field Kubernetes does not know fails the test.
type k8sObjects struct {
	namespaces   []corev1.Namespace
	configMaps   []corev1.ConfigMap
	secrets      map[string]corev1.Secret
	services     map[string]corev1.Service
	statefulSets map[string]appsv1.StatefulSet
}

func decodeManifests(t *testing.T, out []byte) k8sObjects {
	t.Helper()
	objs := k8sObjects{secrets: map[string]corev1.Secret{}, services: map[string]corev1.Service{}, statefulSets: map[string]appsv1.StatefulSet{}}
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var tm metav1.TypeMeta
		require.NoError(t, yaml.Unmarshal([]byte(doc), &tm))
		strict := func(v any) {
			t.Helper()
			require.NoError(t, yaml.UnmarshalStrict([]byte(doc), v), "strict decode of a %s:\n%s", tm.Kind, doc)
		}
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 Namespace":
			var o corev1.Namespace
			strict(&o)
			objs.namespaces = append(objs.namespaces, o)
		case "v1 ConfigMap":
			var o corev1.ConfigMap
			strict(&o)
			objs.configMaps = append(objs.configMaps, o)
		case "v1 Secret":
			var o corev1.Secret
			strict(&o)
			objs.secrets[o.Name] = o
		case "v1 Service":
			var o corev1.Service
			strict(&o)
			objs.services[o.Name] = o
		case "apps/v1 StatefulSet":
			var o appsv1.StatefulSet
			strict(&o)
			objs.statefulSets[o.Name] = o
		default:
			t.Fatalf("unexpected object %q %q:\n%s", tm.APIVersion, tm.Kind, doc)
		}
	}
	return objs
}

// TestManifests checks what a user deploying the default network would:
// every node has a StatefulSet with a volume for its data, Services with
// the right ports at the names the network file gives, probes on health,
// a ConfigMap whose network file loads and validates, and keys in Secrets
// only.
func TestManifests(t *testing.T) {
	data := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, Manifests(context.Background(), &out, ManifestsOptions{DataDir: data, Image: "registry.example/upisim:v1", Namespace: "pay"}))
	objs := decodeManifests(t, out.Bytes())

	require.Len(t, objs.namespaces, 1)
	assert.Equal(t, "pay", objs.namespaces[0].Name)
	require.Len(t, objs.configMaps, 1)
	cm := objs.configMaps[0]
	assert.Equal(t, "pay", cm.Namespace)
	file := filepath.Join(t.TempDir(), "network.yaml")
	require.NoError(t, os.WriteFile(file, []byte(cm.Data[K8sNetworkKey]), 0o600))
	netw, err := config.Load(file) // Load validates
	require.NoError(t, err, "the ConfigMap's network file loads and validates")
	assert.True(t, netw.HTTP.ListenAny)
	assert.False(t, netw.Insecure())
	require.Len(t, netw.Nodes, 6)
	for _, v := range cm.Data {
		assert.NotContains(t, v, "PRIVATE KEY", "no key in the ConfigMap")
		assert.NotContains(t, v, "CERTIFICATE")
	}
	token, err := cluster.ReadAdminToken(data)
	require.NoError(t, err)
	assert.NotContains(t, cm.Data[K8sNetworkKey], token, "the admin token is not in the ConfigMap")
	caKey, err := os.ReadFile(filepath.Join(pki.DirOf(data), pki.CAKeyFile))
	require.NoError(t, err)

	for _, nd := range netw.Nodes {
		k := K8sNamesOf(nd.Name)
		// The node's address is its Services' DNS names.
		assert.Equal(t, k.GRPC+".pay.svc.cluster.local:7000", nd.GRPCAddr)
		assert.Equal(t, k.HTTP+".pay.svc.cluster.local:8080", nd.HTTPAddr)

		ss, ok := objs.statefulSets[k.Name]
		require.True(t, ok, "StatefulSet of %s", nd.Name)
		assert.Equal(t, "pay", ss.Namespace)
		require.NotNil(t, ss.Spec.Replicas)
		assert.EqualValues(t, 1, *ss.Spec.Replicas)
		assert.Equal(t, k.Name, ss.Spec.ServiceName)
		require.Len(t, ss.Spec.VolumeClaimTemplates, 1, "a volume for the bbolt file")
		pvc := ss.Spec.VolumeClaimTemplates[0]
		assert.Equal(t, "1Gi", pvc.Spec.Resources.Requests.Storage().String())
		pod := ss.Spec.Template.Spec
		require.Len(t, pod.Containers, 1)
		c := pod.Containers[0]
		assert.Equal(t, "registry.example/upisim:v1", c.Image)
		assert.Equal(t, []string{"upisim", "node", "--network", "/etc/upisim/network.yaml", "--name", nd.Name, "--data", "/data", "--log-level", "info"}, c.Command)
		mounts := map[string]string{}
		for _, m := range c.VolumeMounts {
			mounts[m.Name] = m.MountPath
		}
		assert.Equal(t, "/data", mounts[pvc.Name], "the claim holds --data")
		for _, p := range []*corev1.Probe{c.StartupProbe, c.ReadinessProbe, c.LivenessProbe} {
			require.NotNil(t, p)
			require.NotNil(t, p.Exec, "an exec probe: Kubernetes' grpc probe has no TLS")
			assert.Equal(t, []string{"upisim", "probe", "--data", "/data", "--addr", "127.0.0.1:7000"}, p.Exec.Command)
		}
		assert.False(t, c.Resources.Requests.Cpu().IsZero())
		assert.False(t, c.Resources.Limits.Memory().IsZero())
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		assert.Equal(t, map[string]int32{"grpc": 7000, "http": 8080}, ports)
		assert.Equal(t, ss.Spec.Selector.MatchLabels, ss.Spec.Template.Labels)

		// Services select the pod and serve the ports the addresses name.
		headless := objs.services[k.Name]
		assert.Equal(t, corev1.ClusterIPNone, headless.Spec.ClusterIP)
		for name, port := range map[string]int32{k.GRPC: 7000, k.HTTP: 8080} {
			s, ok := objs.services[name]
			require.True(t, ok, "Service %s", name)
			assert.Equal(t, ss.Spec.Selector.MatchLabels, s.Spec.Selector)
			require.Len(t, s.Spec.Ports, 1)
			assert.Equal(t, port, s.Spec.Ports[0].Port)
			assert.Equal(t, corev1.ServiceTypeClusterIP, s.Spec.Type, "in-cluster only: the REST gateway is plain HTTP")
		}

		// The Secret: CA certificate, the node's own certificate and key
		// and the admin token; never another node's key or the CA's.
		sec, ok := objs.secrets[k.Secret]
		require.True(t, ok, "Secret %s", k.Secret)
		keys := []string{}
		for key := range sec.Data {
			keys = append(keys, key)
			assert.NotEqual(t, caKey, sec.Data[key], "the CA key stays in DATA/pki")
		}
		assert.ElementsMatch(t, []string{pki.CAFile, pki.CertFile(nd.Name), pki.KeyFile(nd.Name), cluster.AdminTokenFile}, keys)
		var secretVol bool
		for _, v := range pod.Volumes {
			if v.Secret != nil && v.Secret.SecretName == k.Secret {
				secretVol = true
			}
		}
		assert.True(t, secretVol, "the pod mounts its Secret")

		// The node's certificate names its gRPC Service, which peers dial.
		dir := filepath.Join(t.TempDir(), "pki")
		require.NoError(t, os.MkdirAll(dir, 0o700))
		for key, b := range sec.Data {
			if key != cluster.AdminTokenFile {
				require.NoError(t, os.WriteFile(filepath.Join(dir, key), b, 0o600))
			}
		}
		creds, err := pki.Load(dir, netw.Name, nd.Name)
		require.NoError(t, err, "the Secret holds the node's credentials")
		require.NoError(t, creds.Cert.Leaf.VerifyHostname(k.GRPC+".pay.svc.cluster.local"))
	}
	assert.Len(t, objs.statefulSets, 6)
	assert.Len(t, objs.services, 18)
}

// Bad input gets a clear error.
func TestManifestsRefuses(t *testing.T) {
	insecure := filepath.Join(t.TempDir(), "net.yaml")
	n := config.Default()
	n.TLS = config.TLSOff
	raw, err := n.Marshal()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(insecure, raw, 0o600))
	err = Manifests(context.Background(), &bytes.Buffer{}, ManifestsOptions{DataDir: t.TempDir(), NetworkFile: insecure})
	require.ErrorContains(t, err, "tls: off")

	err = Manifests(context.Background(), &bytes.Buffer{}, ManifestsOptions{DataDir: t.TempDir(), Namespace: "Bad_NS"})
	require.ErrorContains(t, err, `--namespace "Bad_NS"`)

	// Certificates kept from a local network do not name the Services.
	local := t.TempDir()
	_, err = PKIInit(context.Background(), &bytes.Buffer{}, PKIInitOptions{DataDir: local})
	require.NoError(t, err)
	err = Manifests(context.Background(), &bytes.Buffer{}, ManifestsOptions{DataDir: local})
	require.ErrorContains(t, err, "does not name tpap-grpc.upisim.svc.cluster.local")

	// --out writes one file, readable by its owner only: it holds keys.
	out := t.TempDir()
	var msg bytes.Buffer
	require.NoError(t, Manifests(context.Background(), &msg, ManifestsOptions{DataDir: t.TempDir(), Out: out}))
	fi, err := os.Stat(filepath.Join(out, "upisim.yaml"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.Contains(t, msg.String(), "kubectl apply -f")
}
