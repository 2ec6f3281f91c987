// Package tpap is the TPAP app node: the API people and scripts drive (pay,
// collect, approve, look up an address, read notifications), which it carries
// out through the PSPs' app APIs, and the TpapService that receives the PSPs'
// notifications.
package tpap
