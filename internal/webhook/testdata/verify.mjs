// Verifies one webhook with the standardwebhooks npm library, as a
// merchant's server would. Input on stdin, one JSON object:
//   {"secret": "whsec_...", "headers": {"webhook-id": ...}, "body_b64": "..."}
// Prints "verified" and exits 0, or prints the library's error and exits 1.
// Run by TestInteropStandardWebhooksNPM (webhook_interop_test.go).
import { Webhook } from "standardwebhooks";

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
const { secret, headers, body_b64: bodyB64 } = JSON.parse(input);
try {
  new Webhook(secret).verify(Buffer.from(bodyB64, "base64"), headers);
  console.log("verified");
} catch (e) {
  console.log(`${e.name}: ${e.message}`);
  process.exit(1);
}
