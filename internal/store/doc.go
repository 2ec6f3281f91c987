// Package store is a node's durable state: one bbolt file, its buckets
// declared in one place (buckets.go), and group commit so that many
// concurrent writers share one fsync. It is the only package that imports
// bbolt.
package store
