package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// DirectoryFile is the name of the file `upisim up` writes into its data
// folder so clients can find the nodes.
const DirectoryFile = "network.json"

// Directory is the content of network.json: where each node of a running
// network listens.
type Directory struct {
	Network string     `json:"network"`
	Nodes   []NodeAddr `json:"nodes"`
	// TLS: the nodes serve TLS, to be verified against CAFile (relative
	// to the data folder) without a client certificate; false: plaintext.
	TLS    bool   `json:"tls,omitempty"`
	CAFile string `json:"ca_file,omitempty"`
}

// DirectoryCAFile is network.json's ca_file when TLS is on: internal/pki's
// ca.pem in the data folder.
const DirectoryCAFile = "pki/ca.pem"

// NodeAddr is one node's entry in network.json.
type NodeAddr struct {
	Name     string   `json:"name"`
	Role     string   `json:"role"`
	GRPCAddr string   `json:"grpc_addr"`
	HTTPAddr string   `json:"http_addr"`
	Handles  []string `json:"handles,omitempty"`
	IFSC     string   `json:"ifsc,omitempty"`
}

// Directory returns the directory of n with its current addresses.
func (n *Network) Directory() Directory {
	d := Directory{Network: n.Name}
	if !n.Insecure() {
		d.TLS, d.CAFile = true, DirectoryCAFile
	}
	for _, nd := range n.Nodes {
		d.Nodes = append(d.Nodes, NodeAddr{
			Name: nd.Name, Role: nd.Role, GRPCAddr: nd.GRPCAddr, HTTPAddr: nd.HTTPAddr,
			Handles: slices.Clone(nd.Handles), IFSC: nd.IFSC,
		})
	}
	return d
}

// Node returns the entry of the node called name.
func (d *Directory) Node(name string) (NodeAddr, bool) {
	for _, na := range d.Nodes {
		if na.Name == name {
			return na, true
		}
	}
	return NodeAddr{}, false
}

// ByRole returns the entries with role, in order.
func (d *Directory) ByRole(role string) []NodeAddr {
	var out []NodeAddr
	for _, na := range d.Nodes {
		if na.Role == role {
			out = append(out, na)
		}
	}
	return out
}

// WriteDirectory writes d to dir/network.json atomically (a temporary file
// in dir, synced, then renamed over the old one), creating dir if needed.
func WriteDirectory(dir string, d Directory) (err error) {
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+DirectoryFile+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, DirectoryFile))
}

// ReadDirectory reads dir/network.json.
func ReadDirectory(dir string) (*Directory, error) {
	path := filepath.Join(dir, DirectoryFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no %s in %s: is `upisim up --data %s` running?", DirectoryFile, dir, dir)
	}
	if err != nil {
		return nil, err
	}
	var d Directory
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(d.Nodes) == 0 {
		return nil, fmt.Errorf("%s: no nodes", path)
	}
	return &d, nil
}
