// Package pki is a network's public-key infrastructure: one certificate
// authority per network and one certificate per node, which the nodes use
// for mutual TLS 1.3 with each other.
//
// Everything lives in DATA/pki (mode 0700), each file mode 0600 and
// written atomically (a temporary file, then a rename):
//
//	ca.pem, ca-key.pem       the network's CA (ECDSA P-256, self-signed, 10 years)
//	NODE.pem, NODE-key.pem   a node's certificate and key (ECDSA P-256, 1 year)
//
// A node certificate is for both server and client authentication. Its
// URI SAN upisim://NETWORK/NODE?role=ROLE is the node's identity
// (IdentityOf), and it also names 127.0.0.1, ::1 and localhost (and any
// further hosts given), so a peer dialled by address verifies it.
//
// Ensure creates what is missing (never replacing a valid file), Rotate
// gives one node a new key and certificate from the same CA, Load reads a
// node's credentials (Creds), whose ServerTLS and ClientTLS are the TLS
// configurations of its gRPC server and of its connections to peers.
// AppClientTLS is for clients that are not nodes (the CLI, the REST
// gateway): they verify the node and present no certificate, so they reach
// only the app and admin services, since a network message needs a
// verified node certificate (node.Config.RequirePeer). PeerFromContext and
// UnaryServerInterceptor turn the certificate a caller presented into the
// node.Peer the runtime checks a message's sender against.
//
// Only the standard library's crypto is used (crypto/x509, crypto/ecdsa,
// crypto/tls). A key file that group or others may read is refused.
package pki
