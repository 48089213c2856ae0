// A backend of its own calling the record store over gRPC, from the .proto files: the staff adds a
// disc, a customer signs up and buys one. How to run it: README.md.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

function setting(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set (see README.md)`);
  return value;
}

// Ours and the Google protos they import: two include roots. keepCase keeps the fields snake_case
// as the JSON API writes them, longs: String keeps int64 exact, enums: String gives state names.
const protos = setting("RECORDSTORE_PROTOS");
const definition = protoLoader.loadSync(
  ["recordstore/customers/v1/customers.proto", "recordstore/catalog/v1/catalog.proto", "recordstore/orders/v1/orders.proto"],
  { includeDirs: [protos, join(protos, "third_party")], keepCase: true, longs: String, enums: String, defaults: true },
);
const { customers, catalog, orders } = grpc.loadPackageDefinition(definition).recordstore;

// Every gRPC port takes mutual TLS only: the stack's CA and a client certificate it issued.
const tlsDir = setting("RECORDSTORE_TLS");
const read = (name) => readFileSync(join(tlsDir, name));
const tls = grpc.credentials.createSsl(read("ca.pem"), read("client.key"), read("client.pem"));
const customerService = new customers.v1.CustomerService(setting("CUSTOMERS_ADDR", "localhost:50051"), tls);
const catalogService = new catalog.v1.CatalogService(setting("CATALOG_ADDR", "localhost:50052"), tls);
const orderService = new orders.v1.OrderService(setting("ORDERS_ADDR", "localhost:50053"), tls);

// One unary call with its bearer token (and an idempotency key: the same request again gives the
// same answer), within 5 seconds.
function call(client, method, request, token, idempotencyKey) {
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  if (idempotencyKey) metadata.set("idempotency-key", idempotencyKey);
  const deadline = new Date(Date.now() + 5000);
  return new Promise((resolve, reject) =>
    client[method](request, metadata, { deadline }, (error, reply) => (error ? reject(error) : resolve(reply))),
  );
}

const staff = setting("STAFF_TOKEN");
const shopper = setting("CUSTOMER_TOKEN");
try {
  const disc = await call(catalogService, "CreateDisc", {
    disc: {
      title: "Construção", artist: "Chico Buarque", genre: "MPB", release_year: 1971, stock: 10,
      price: { currency_code: "BRL", units: "69", nanos: 900000000 },
    },
  }, staff, "node-example-construcao");
  const customer = await call(customerService, "CreateCustomer", {
    customer: { name: "Nara Leão", email: "nara@example.com" },
  }, shopper, "node-example-signs-up");
  const purchase = await call(orderService, "CreatePurchase", {
    purchase: { customer_id: customer.id, disc_id: disc.id, quantity: 1 },
    request_id: randomUUID(),
  }, shopper);
  console.log(`bought ${purchase.quantity} of ${disc.title}: ${purchase.state}`);
} catch (error) {
  console.error(`${grpc.status[error.code] ?? error.code}: ${error.details ?? error.message}`);
  process.exitCode = 1;
} finally {
  for (const client of [customerService, catalogService, orderService]) client.close();
}
