// A short typed program against the local run, with the TypeScript types generated from
// shared/api/openapi.json (openapi-typescript): create, list, get, respond with If-Match, a
// stale If-Match (412) and a bad field (422) read as Problems. tsc --strict checks it.
//
//   node walk.js <base URL> <partner token> <support token>
import type { components, paths } from "./api";

type Schemas = components["schemas"];
type Created = paths["/customers/{customerId}/service-requests"]["post"]["responses"]["201"]["content"]["application/json"];
type Listed = paths["/service-requests"]["get"]["responses"]["200"]["content"]["application/json"];

const CUSTOMER = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const [base, partner, support] = process.argv.slice(2);

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(what);
}

async function call<T>(method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, etag: response.headers.get("etag"), body: (await response.json()) as T };
}

function request(title: string): Schemas["CreateCustomerRequest"] {
  return {
    category: "technical",
    contact: { name: "Erika Partner", email: "erika@partner.example" },
    description: "No VM in West Europe answers since 10:10 UTC.",
    language: "de-DE",
    product: "azure",
    severity: "A",
    title,
    supportTopicId: "azure-vm-connectivity",
  };
}

async function main(): Promise<void> {
  const created = await call<Created>("POST", `/customers/${CUSTOMER}/service-requests`, partner, request("Production VMs unreachable"));
  check(created.status === 201, `create: ${created.status}`);
  const sr: Schemas["ServiceRequest"] = created.body;
  check(sr.status === "open" && sr.sla.state === "pending" && sr.sla.calendar === "de", `created: ${JSON.stringify(sr)}`);

  const page = await call<Listed>("GET", "/service-requests?limit=50", partner);
  check(page.body.items.some((item: Schemas["ServiceRequest"]) => item.id === sr.id), "listed");

  const got = await call<Schemas["ServiceRequest"]>("GET", `/service-requests/${sr.id}`, support);
  check(got.status === 200 && got.etag === `"${got.body.version}"`, `get: ${got.status} ${got.etag}`);

  const respond: Schemas["RespondAction"] = { action: "respond", message: "We are on it." };
  const answered = await call<Schemas["ServiceRequest"]>("PATCH", `/service-requests/${sr.id}`, support, respond, {
    "if-match": got.etag ?? "",
  });
  check(answered.status === 200 && answered.body.status === "in_progress" && answered.body.sla.state === "met", "respond");
  check(answered.body.version === got.body.version + 1, "version");

  const stale = await call<Schemas["Problem"]>("PATCH", `/service-requests/${sr.id}`, support, respond, {
    "if-match": got.etag ?? "",
  });
  check(stale.status === 412 && stale.body.type === "/problems/precondition-failed", `412: ${JSON.stringify(stale.body)}`);

  const bad = await call<Schemas["Problem"]>("POST", `/customers/${CUSTOMER}/service-requests`, partner, request(""));
  check(bad.status === 422 && bad.body.errors.map((e: Schemas["Problem"]["errors"][number]) => e.field).join() === "$.title", `422: ${JSON.stringify(bad.body)}`);
  console.log(`typescript types: created ${sr.id}, listed, got, responded (version ${answered.body.version}), 412 and 422 read`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
