// The interactive API page (docs/web.md): Swagger UI (swagger-ui-py's dist, served by the
// node at /web/swagger-ui/) on the node's own OpenAPI description, the `openapi.json` beside
// this page (/api/openapi.json, or an alias root's). "Try it out" asks this node: the
// description's server becomes the page's own origin, which the page's policy allows.
// Schemas the description names by a remote $ref (the Beacon framework's, on GitHub) are
// shown as that link, not fetched: the page connects to this node alone.
"use strict";

function localOnly(value) {
  if (Array.isArray(value)) return value.map(localOnly);
  if (value === null || typeof value !== "object") return value;
  const ref = value.$ref;
  if (typeof ref === "string" && !ref.startsWith("#")) {
    return { type: "object", description: `Schema: [${ref}](${ref}) (not loaded here)` };
  }
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, localOnly(v)]));
}

async function startDocs() {
  const status = document.getElementById("docs-status");
  const response = await fetch(new URL("openapi.json", location.href), { credentials: "omit" });
  if (!response.ok) throw new Error(`the API description answered ${response.status}`);
  const spec = localOnly(await response.json());
  spec.servers = [{ url: location.origin, description: "this node" }];
  window.SwaggerUIBundle({
    spec, dom_id: "#swagger-ui", deepLinking: false, tryItOutEnabled: false,
    validatorUrl: null, presets: [window.SwaggerUIBundle.presets.apis],
    onComplete: () => {
      status.textContent = `${spec.info.title}, version ${spec.info.version}`;
      document.body.dataset.ready = "true";
    },
  });
}

startDocs().catch((error) => {
  document.getElementById("docs-status").textContent =
    `The API page could not start: ${error.message}`;
  document.body.dataset.ready = "error";
});
