// Starts Swagger UI on /docs over this server's schema. A file, not an inline script, so the page runs
// under the server's Content-Security-Policy; no validator badge (it would call validator.swagger.io).
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
