package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
)

// Scheme is the URI scheme of a node's identity.
const Scheme = "upisim"

// File names in the pki folder.
const (
	// Dir is the pki folder's name inside a data folder.
	Dir       = "pki"
	CAFile    = "ca.pem"
	CAKeyFile = "ca-key.pem"
	lockName  = ".lock"
)

// Validity of what Ensure and Rotate issue.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	NodeValidity = 365 * 24 * time.Hour
	// backdate is how far before now a certificate becomes valid, so a
	// peer whose clock is a little behind accepts it.
	backdate = time.Hour
)

// CertFile and KeyFile name a node's certificate and key files.
func CertFile(node string) string { return node + ".pem" }

// KeyFile names a node's key file.
func KeyFile(node string) string { return node + "-key.pem" }

// DirOf is the pki folder of a data folder.
func DirOf(dataDir string) string { return filepath.Join(dataDir, Dir) }

// Identity is who a certificate says its holder is.
type Identity struct {
	Network string
	Node    string
	Role    string
}

// URI is the identity as its certificate names it:
// upisim://NETWORK/NODE?role=ROLE.
func (id Identity) URI() *url.URL {
	return &url.URL{Scheme: Scheme, Host: id.Network, Path: "/" + id.Node, RawQuery: url.Values{"role": {id.Role}}.Encode()}
}

func (id Identity) String() string { return id.URI().String() }

// IdentityOf parses the identity in a node certificate's URI SAN.
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	var ids []Identity
	for _, u := range cert.URIs {
		if u.Scheme != Scheme {
			continue
		}
		node := strings.TrimPrefix(u.Path, "/")
		id := Identity{Network: u.Host, Node: node, Role: u.Query().Get("role")}
		if id.Network == "" || id.Node == "" || strings.Contains(node, "/") || id.Role == "" {
			return Identity{}, fmt.Errorf("certificate %q: malformed identity %s", cert.Subject.CommonName, u)
		}
		ids = append(ids, id)
	}
	switch len(ids) {
	case 0:
		return Identity{}, fmt.Errorf("certificate %q names no %s:// node identity", cert.Subject.CommonName, Scheme)
	case 1:
		return ids[0], nil
	}
	return Identity{}, fmt.Errorf("certificate %q names %d node identities", cert.Subject.CommonName, len(ids))
}

// caNetwork is the network a CA certificate is for (its URI SAN
// upisim://NETWORK).
func caNetwork(cert *x509.Certificate) (string, bool) {
	for _, u := range cert.URIs {
		if u.Scheme == Scheme && u.Host != "" && (u.Path == "" || u.Path == "/") {
			return u.Host, true
		}
	}
	return "", false
}

// Option changes what Ensure and Rotate issue.
type Option func(*options)

type options struct {
	hosts    []string
	validity time.Duration
	now      func() time.Time
	notAfter time.Time // tests: a fixed NotAfter (in the past: expired)
}

// WithHosts adds host names or IP addresses to the node certificates
// issued, beside 127.0.0.1, ::1 and localhost: the names peers dial the
// nodes by when they run on many hosts.
func WithHosts(hosts ...string) Option {
	return func(o *options) { o.hosts = append(o.hosts, hosts...) }
}

// WithValidity sets how long node certificates issued are valid
// (NodeValidity by default).
func WithValidity(d time.Duration) Option { return func(o *options) { o.validity = d } }

// withNotAfter issues node certificates that end at t (tests of expiry).
func withNotAfter(t time.Time) Option { return func(o *options) { o.notAfter = t } }

func buildOptions(opts []Option) options {
	o := options{validity: NodeValidity, now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Ensure creates in dir what is missing for network's nodes: the CA if
// there is none, and a certificate and key for each node that has none.
// It never replaces a file: one that is not valid (another network's or
// another CA's certificate, an expired one, a key that does not match or
// that others may read) is an error naming the file. Where dir holds the
// CA's certificate but not its key (a host that got only its nodes'
// files from `upisim pki init`), a node without a certificate is an
// error. Ensure is idempotent and safe to run from several processes at
// once.
func Ensure(dir, network string, nodes []Identity, opts ...Option) error {
	if network == "" {
		return errors.New("pki: no network name")
	}
	o := buildOptions(opts)
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	ca, err := ensureCA(dir, network, o)
	if err != nil {
		return err
	}
	for _, id := range nodes {
		if id.Network == "" {
			id.Network = network
		}
		if id.Network != network {
			return fmt.Errorf("pki: node %s is of network %q, not %q", id.Node, id.Network, network)
		}
		if err := ensureNode(dir, ca, id, o); err != nil {
			return err
		}
	}
	return nil
}

// CanIssue reports whether dir holds the CA's key (or no CA at all, so
// that Ensure would create one), so that Ensure can issue certificates.
func CanIssue(dir string) bool {
	_, errCert := os.Stat(filepath.Join(dir, CAFile))
	_, errKey := os.Stat(filepath.Join(dir, CAKeyFile))
	return errKey == nil || errors.Is(errCert, fs.ErrNotExist)
}

// Rotate gives node a new key and certificate from the same CA, with the
// role and hosts of its current certificate (and any hosts given). Nodes
// read their credentials when they start, so a running node uses the new
// ones from its next start.
func Rotate(dir, network, node string, opts ...Option) error {
	o := buildOptions(opts)
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	ca, err := loadCA(dir, network)
	if err != nil {
		return err
	}
	if ca.key == nil {
		return fmt.Errorf("pki: no %s in %s: rotate where the CA's key is", CAKeyFile, dir)
	}
	path := filepath.Join(dir, CertFile(node))
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pki: no certificate of node %s (%s) to rotate", node, path)
	}
	old, err := readCert(path)
	if err != nil {
		return err
	}
	id, err := IdentityOf(old)
	if err != nil {
		return fmt.Errorf("pki: %s: %w", path, err)
	}
	if id.Network != network || id.Node != node {
		return fmt.Errorf("pki: %s is the certificate of %s, not of node %s of network %q", path, id, node, network)
	}
	for _, ip := range old.IPAddresses {
		o.hosts = append(o.hosts, ip.String())
	}
	o.hosts = append(o.hosts, old.DNSNames...)
	return issueNode(dir, ca, id, o)
}

// Creds are one node's credentials: its certificate and key and its
// network's CA.
type Creds struct {
	Identity Identity
	Cert     tls.Certificate
	CA       *x509.Certificate
	roots    *x509.CertPool
	sessions tls.ClientSessionCache
}

// Load reads the credentials of node of network from dir, checking that
// its certificate is that node's, valid now and issued by the CA.
func Load(dir, network, node string) (*Creds, error) {
	ca, err := loadCA(dir, network)
	if err != nil {
		return nil, err
	}
	certPath, keyPath := filepath.Join(dir, CertFile(node)), filepath.Join(dir, KeyFile(node))
	cert, err := readCert(certPath)
	if err != nil {
		return nil, err
	}
	key, err := readKey(keyPath)
	if err != nil {
		return nil, err
	}
	id, err := checkNode(certPath, keyPath, cert, key, ca, time.Now())
	if err != nil {
		return nil, err
	}
	if id.Network != network || id.Node != node {
		return nil, fmt.Errorf("pki: %s is the certificate of %s, not of node %s of network %q", certPath, id, node, network)
	}
	return &Creds{
		Identity: id,
		Cert:     tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert},
		CA:       ca.cert,
		roots:    ca.pool(),
		sessions: tls.NewLRUClientSessionCache(0),
	}, nil
}

// CertInfo describes one certificate in a pki folder (`upisim pki show`).
type CertInfo struct {
	File    string `json:"file"`
	Network string `json:"network"`
	// Node and Role are empty for the CA.
	Node     string    `json:"node,omitempty"`
	Role     string    `json:"role,omitempty"`
	CA       bool      `json:"ca,omitempty"`
	NotAfter time.Time `json:"not_after"`
	// Fingerprint is the SHA-256 of the certificate's DER, in hex.
	Fingerprint string   `json:"fingerprint"`
	Hosts       []string `json:"hosts,omitempty"`
}

// List describes every certificate in dir, the CA's first, then the
// nodes' by name.
func List(dir string) ([]CertInfo, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	var out []CertInfo
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".pem") || strings.HasSuffix(name, "-key.pem") {
			continue
		}
		cert, err := readCert(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(cert.Raw)
		ci := CertInfo{File: name, NotAfter: cert.NotAfter, Fingerprint: hex.EncodeToString(sum[:])}
		if name == CAFile {
			ci.CA = true
			ci.Network, _ = caNetwork(cert)
		} else {
			id, err := IdentityOf(cert)
			if err != nil {
				return nil, fmt.Errorf("pki: %s: %w", name, err)
			}
			ci.Network, ci.Node, ci.Role = id.Network, id.Node, id.Role
			ci.Hosts = append(ci.Hosts, cert.DNSNames...)
			for _, ip := range cert.IPAddresses {
				ci.Hosts = append(ci.Hosts, ip.String())
			}
		}
		out = append(out, ci)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].CA != out[j].CA {
			return out[i].CA
		}
		return out[i].Node < out[j].Node
	})
	return out, nil
}

// authority is a network's CA; key is nil where dir has only ca.pem.
type authority struct {
	network string
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
}

func (a *authority) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.cert)
	return p
}

// ensureCA loads the CA of network from dir, creating it if there is none.
func ensureCA(dir, network string, o options) (*authority, error) {
	certPath := filepath.Join(dir, CAFile)
	if _, err := os.Stat(certPath); errors.Is(err, fs.ErrNotExist) {
		// A key without a certificate is a creation that stopped half-way
		// (the key is written first): nothing can have been issued by it.
		return createCA(dir, network, o)
	}
	return loadCA(dir, network)
}

func loadCA(dir, network string) (*authority, error) {
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	cert, err := readCert(certPath)
	if err != nil {
		return nil, err
	}
	got, ok := caNetwork(cert)
	if !cert.IsCA || !ok {
		return nil, fmt.Errorf("pki: %s is not an upisim network CA", certPath)
	}
	if got != network {
		return nil, fmt.Errorf("pki: %s is the CA of network %q, not %q", certPath, got, network)
	}
	if now := time.Now(); now.After(cert.NotAfter) {
		return nil, fmt.Errorf("pki: %s expired on %s", certPath, cert.NotAfter.Format(time.DateOnly))
	}
	a := &authority{network: network, cert: cert}
	if _, err := os.Stat(keyPath); errors.Is(err, fs.ErrNotExist) {
		return a, nil
	}
	key, err := readKey(keyPath)
	if err != nil {
		return nil, err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("pki: %s is not the key of %s", keyPath, certPath)
	}
	a.key = key
	return a, nil
}

func createCA(dir, network string, o options) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := o.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "upisim " + network + " CA", Organization: []string{network}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		URIs:                  []*url.URL{{Scheme: Scheme, Host: network}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := writeKey(filepath.Join(dir, CAKeyFile), key); err != nil {
		return nil, err
	}
	if err := writeCert(filepath.Join(dir, CAFile), der); err != nil {
		return nil, err
	}
	return &authority{network: network, cert: cert, key: key}, nil
}

// ensureNode checks id's files in dir, issuing them if there are none.
func ensureNode(dir string, ca *authority, id Identity, o options) error {
	certPath, keyPath := filepath.Join(dir, CertFile(id.Node)), filepath.Join(dir, KeyFile(id.Node))
	_, certErr := os.Stat(certPath)
	if errors.Is(certErr, fs.ErrNotExist) {
		// A key alone is an issue that stopped half-way (the key is
		// written first); issue again.
		if ca.key == nil {
			return fmt.Errorf("pki: no %s for node %s, and no %s in %s to issue one: copy the node's files from where `upisim pki init` ran", CertFile(id.Node), id.Node, CAKeyFile, dir)
		}
		return issueNode(dir, ca, id, o)
	}
	cert, err := readCert(certPath)
	if err != nil {
		return err
	}
	key, err := readKey(keyPath)
	if err != nil {
		return err
	}
	got, err := checkNode(certPath, keyPath, cert, key, ca, o.now())
	if err != nil {
		return err
	}
	if got != id {
		return fmt.Errorf("pki: %s is the certificate of %s, not %s", certPath, got, id)
	}
	return nil
}

// checkNode checks a node's certificate and key against the CA at now
// and returns the certificate's identity.
func checkNode(certPath, keyPath string, cert *x509.Certificate, key *ecdsa.PrivateKey, ca *authority, now time.Time) (Identity, error) {
	if !key.PublicKey.Equal(cert.PublicKey) {
		return Identity{}, fmt.Errorf("pki: %s is not the key of %s", keyPath, certPath)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			return Identity{}, fmt.Errorf("pki: %s expired on %s: issue a new one with `upisim pki rotate`", certPath, cert.NotAfter.Format(time.DateOnly))
		}
		return Identity{}, fmt.Errorf("pki: %s was not issued by %s (another network's or another CA's certificate): %w", certPath, filepath.Join(filepath.Dir(certPath), CAFile), err)
	}
	id, err := IdentityOf(cert)
	if err != nil {
		return Identity{}, fmt.Errorf("pki: %s: %w", certPath, err)
	}
	if id.Network != ca.network {
		return Identity{}, fmt.Errorf("pki: %s is a certificate of network %q, not %q", certPath, id.Network, ca.network)
	}
	return id, nil
}

// issueNode writes a new key and certificate for id, signed by ca.
func issueNode(dir string, ca *authority, id Identity, o options) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := o.now()
	notAfter := now.Add(o.validity)
	if !o.notAfter.IsZero() {
		notAfter = o.notAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: id.Node, Organization: []string{id.Network}, OrganizationalUnit: []string{id.Role}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{id.URI()},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback},
	}
	if notAfter.Before(tmpl.NotBefore) {
		tmpl.NotBefore = notAfter.Add(-time.Hour)
	}
	for _, h := range o.hosts {
		if ip := net.ParseIP(h); ip != nil {
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if h != "" && !slices.Contains(tmpl.DNSNames, h) {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return err
	}
	if err := writeKey(filepath.Join(dir, KeyFile(id.Node)), key); err != nil {
		return err
	}
	return writeCert(filepath.Join(dir, CertFile(id.Node)), der)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}

// lockDir creates dir (mode 0700) and holds its lock until unlock, so that
// processes sharing a data folder do not issue at the same time.
func lockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("pki: lock %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("pki: %s holds no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", path, err)
	}
	return c, nil
}

// readKey reads an ECDSA key, refusing a file that group or others may
// read.
func readKey(path string) (*ecdsa.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("pki: key file %s has mode %04o, so group or others may read it: refusing it (chmod 600 %s)", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("pki: %s holds no PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("pki: %s is not an ECDSA key", path)
	}
	return ek, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func writeCert(path string, der []byte) error {
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// writeFile writes data to path atomically, mode 0600: a temporary file
// in the same folder, synced, then renamed over path, and the folder
// synced.
func writeFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("pki: sync %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
