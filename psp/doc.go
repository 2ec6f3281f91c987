// Package psp is the PSP role: one node that acts as payer PSP, payee PSP
// (and later secondary PSP) for the users and merchants whose VPA handles it
// owns. It serves PspAppService to its TPAP app and PspService to the NPCI
// switch, and implements the PSP rows of docs/FLOWS.md.
package psp
