// Package upi is the project's one vocabulary of the UPI domain: the NPCI
// codes it uses, the order of a transaction's results, the checks of a
// transfer's parties and amount, and rupee amounts.
package upi
