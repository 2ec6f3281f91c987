// A merchant's webhook endpoint, as a merchant's Node.js server would be:
// it verifies each webhook with the standardwebhooks npm library and
// answers 204 (verified) or 400 (not). The secret (whsec_...) is the first
// argument. It listens on 127.0.0.1, on an OS-chosen port, and prints one
// JSON line per event on stdout:
//   {"listening": "http://127.0.0.1:PORT/"}              once, when ready
//   {"verified": true, "id": ..., "type": ..., "data": {...}}  per webhook
//   {"verified": false, "id": ..., "error": "..."}       per rejected one
// It stops on SIGINT or SIGTERM. Run by the merchant tour's e2e test
// (tests/e2e/merchant_test.go) behind `upisim listen --forward-to`.
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

const secret = process.argv[2];
if (!secret) {
  console.error("usage: node server.mjs WHSEC_SECRET");
  process.exit(2);
}
const wh = new Webhook(secret);

const server = createServer((req, res) => {
  if (req.method !== "POST") {
    res.writeHead(405, { Allow: "POST" }).end();
    return;
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const id = req.headers["webhook-id"] ?? "";
    try {
      const event = wh.verify(body, req.headers);
      console.log(JSON.stringify({ verified: true, id, type: event.type, data: event.data }));
      res.writeHead(204).end();
    } catch (e) {
      console.log(JSON.stringify({ verified: false, id, error: `${e.name}: ${e.message}` }));
      res.writeHead(400, { "Content-Type": "text/plain" }).end(`${e.message}\n`);
    }
  });
});

server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ listening: `http://127.0.0.1:${server.address().port}/` }));
});
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
