package remitter

// SeenKey is seenKey, for the tests of replayed PIN blocks.
var SeenKey = seenKey
