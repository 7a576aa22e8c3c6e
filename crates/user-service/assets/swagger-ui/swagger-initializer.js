// Ours, not vendored: points Swagger UI at this service's document. A separate file
// because /docs forbids inline scripts (Content-Security-Policy: script-src 'self').
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // No calls to validator.swagger.io: the page talks to this origin only.
    validatorUrl: null,
  });
});
