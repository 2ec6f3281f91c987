// Package config describes a simulated UPI network (its nodes, users,
// merchants, limits and timeouts) as loaded from a YAML network file or the
// embedded default, and the network.json directory that tells clients where a
// running network's nodes listen.
package config
