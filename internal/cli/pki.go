package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/upisim/upisim/internal/config"
	"github.com/upisim/upisim/internal/pki"
)

// PKIInitOptions are the options of `upisim pki init`.
type PKIInitOptions struct {
	DataDir     string
	NetworkFile string
	// Hosts are further host names or addresses every node certificate
	// names, for nodes that peers reach on other hosts.
	Hosts  []string
	Output Output
}

// PKIResult is what the pki commands print: the certificates in the data
// folder's pki folder.
type PKIResult struct {
	Dir   string         `json:"dir"`
	Certs []pki.CertInfo `json:"certs"`
}

// PKIInit creates the network's CA and every node's certificate ahead of
// the first start (what `upisim up` and `upisim node` would create), so
// that each host of a network on many hosts can be given ca.pem and its
// nodes' files. It keeps what exists.
func PKIInit(_ context.Context, w io.Writer, o PKIInitOptions) (PKIResult, error) {
	if o.DataDir == "" {
		return PKIResult{}, fmt.Errorf("missing --data")
	}
	netw, err := config.Load(o.NetworkFile)
	if err != nil {
		return PKIResult{}, err
	}
	dir := pki.DirOf(o.DataDir)
	ids := make([]pki.Identity, len(netw.Nodes))
	for i, nd := range netw.Nodes {
		ids[i] = pki.Identity{Network: netw.Name, Node: nd.Name, Role: nd.Role}
	}
	if err := pki.Ensure(dir, netw.Name, ids, pki.WithHosts(o.Hosts...)); err != nil {
		return PKIResult{}, err
	}
	return printPKI(w, dir, o.Output, func(w io.Writer) {
		fmt.Fprintf(w, "\ngive each host %s and its nodes' NODE.pem and NODE-key.pem (mode 0600, in DATA/pki); keep %s where you issue certificates\n", pki.CAFile, pki.CAKeyFile)
	})
}

// PKIRotateOptions are the options of `upisim pki rotate`.
type PKIRotateOptions struct {
	DataDir string
	Node    string
	Output  Output
}

// PKIRotate gives one node a new key and certificate from the same CA; the
// node uses them from its next start.
func PKIRotate(_ context.Context, w io.Writer, o PKIRotateOptions) (PKIResult, error) {
	if o.DataDir == "" {
		return PKIResult{}, fmt.Errorf("missing --data")
	}
	dir := pki.DirOf(o.DataDir)
	network, err := caNetwork(dir)
	if err != nil {
		return PKIResult{}, err
	}
	if err := pki.Rotate(dir, network, o.Node); err != nil {
		return PKIResult{}, err
	}
	return printPKI(w, dir, o.Output, func(w io.Writer) {
		fmt.Fprintf(w, "\nrotated %s: restart the node to use its new certificate\n", o.Node)
	})
}

// PKIShowOptions are the options of `upisim pki show`.
type PKIShowOptions struct {
	DataDir string
	Output  Output
}

// PKIShow lists the certificates in the data folder: each one's node,
// role, expiry and SHA-256 fingerprint.
func PKIShow(_ context.Context, w io.Writer, o PKIShowOptions) (PKIResult, error) {
	if o.DataDir == "" {
		return PKIResult{}, fmt.Errorf("missing --data")
	}
	return printPKI(w, pki.DirOf(o.DataDir), o.Output, nil)
}

// caNetwork is the network of dir's CA.
func caNetwork(dir string) (string, error) {
	certs, err := pki.List(dir)
	if err != nil {
		return "", err
	}
	for _, c := range certs {
		if c.CA {
			return c.Network, nil
		}
	}
	return "", fmt.Errorf("no %s in %s: run `upisim pki init` first", pki.CAFile, dir)
}

func printPKI(w io.Writer, dir string, out Output, after func(io.Writer)) (PKIResult, error) {
	certs, err := pki.List(dir)
	if err != nil {
		return PKIResult{}, err
	}
	res := PKIResult{Dir: dir, Certs: certs}
	return res, out.print(w, res, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "file\tnode\trole\tnot after\tsha-256\thosts")
		for _, c := range certs {
			node, role := c.Node, c.Role
			if c.CA {
				node, role = "(CA of "+c.Network+")", "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", filepath.Join(dir, c.File), node, role, c.NotAfter.UTC().Format(time.DateOnly), c.Fingerprint, strings.Join(c.Hosts, ","))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if after != nil {
			after(w)
		}
		return nil
	})
}
